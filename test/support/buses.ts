import { randomUUID } from "node:crypto";
import { RABBITMQ_URL, deleteNamespace } from "./rabbitmq";

/** The environment that selects each bus adapter, with a namespace of its own per test. */
export interface BusFixture {
  name: string;
  env(): Record<string, string>;
  /** Removes what the namespace left on the broker. */
  cleanUp(namespace: string, queues: readonly string[]): Promise<void>;
}

export const busFixtures: BusFixture[] = [
  {
    name: "memory bus",
    env: () => ({ BUS_NAMESPACE: `test-${randomUUID()}` }),
    cleanUp: async () => {},
  },
  {
    name: "AMQP bus on RabbitMQ",
    env: () => ({ AMQP_URL: RABBITMQ_URL, BUS_NAMESPACE: `test-${randomUUID()}` }),
    cleanUp: (namespace, queues) => deleteNamespace(namespace, queues),
  },
];

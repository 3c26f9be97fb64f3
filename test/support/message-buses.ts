import { randomUUID } from "node:crypto";
import { MessageBus } from "../../adapters/bus";
import { AmqpMessageBus } from "../../adapters/bus/amqp/bus";
import { BusLogger } from "../../adapters/bus/logger";
import { MemoryMessageBus } from "../../adapters/bus/memory/bus";
import { RABBITMQ_URL, deleteRabbitMqObjects, rabbitMqIsReachable } from "./rabbitmq";

export interface TestBusOptions {
  stopTimeoutMs?: number;
  random?: () => number;
  deliveryLimit?: number;
  /** Shares another bus's namespace (its queues) instead of getting one of its own. */
  namespace?: string;
}

/** Keeps what the bus logs, so that a test can show it was quiet (or not). */
export class RecordingLogger implements BusLogger {
  readonly lines: { level: "info" | "warn" | "error"; text: string }[] = [];

  info(...args: unknown[]): void {
    this.lines.push({ level: "info", text: args.join(" ") });
  }

  warn(...args: unknown[]): void {
    this.lines.push({ level: "warn", text: args.join(" ") });
  }

  error(...args: unknown[]): void {
    this.lines.push({ level: "error", text: args.join(" ") });
  }
}

/** One adapter under test. Every bus it opens is closed by closeAll(); dispose() cleans the broker. */
export interface MessageBusFixture<Bus extends MessageBus = MessageBus> {
  name: string;
  logger: RecordingLogger;
  open(options?: TestBusOptions): Promise<Bus>;
  closeAll(): Promise<void>;
  dispose(): Promise<void>;
}

export function memoryFixture(): MessageBusFixture {
  const opened: MessageBus[] = [];
  return {
    name: "memory",
    logger: new RecordingLogger(),
    async open(options = {}) {
      const bus = new MemoryMessageBus({ stopTimeoutMs: options.stopTimeoutMs, random: options.random });
      opened.push(bus);
      return bus;
    },
    async closeAll() {
      await Promise.all(opened.splice(0).map((bus) => bus.close()));
    },
    async dispose() {},
  };
}

/** Buses on the real RabbitMQ, each in a namespace of its own under one prefix per run. */
export function amqpFixture(): MessageBusFixture<AmqpMessageBus> {
  const prefix = `gbtest-${randomUUID().slice(0, 8)}`;
  const opened: AmqpMessageBus[] = [];
  let namespaces = 0;
  const logger = new RecordingLogger();
  return {
    name: "amqp (RabbitMQ)",
    logger,
    async open(options = {}) {
      namespaces += 1;
      const bus = new AmqpMessageBus({
        url: RABBITMQ_URL,
        namespace: options.namespace ?? `${prefix}-${namespaces}`,
        logger,
        stopTimeoutMs: options.stopTimeoutMs,
        random: options.random,
        deliveryLimit: options.deliveryLimit,
      });
      opened.push(bus);
      await bus.start();
      return bus;
    },
    async closeAll() {
      await Promise.all(opened.splice(0).map((bus) => bus.close()));
    },
    async dispose() {
      await deleteRabbitMqObjects(RABBITMQ_URL, `${prefix}-`);
    },
  };
}

/** RabbitMQ tests run when it answers, and always in CI, where its absence must fail them. */
export const runsOnRabbitMq = process.env.CI === "true" || rabbitMqIsReachable();
if (!runsOnRabbitMq) {
  const { host } = new URL(RABBITMQ_URL);
  console.warn(
    `RabbitMQ does not answer on ${host}: the AMQP message bus tests are SKIPPED ` +
      `(the MessageBus contract suite on amqp, and "MessageBus on RabbitMQ"); only the in-memory bus is tested.\n` +
      "Start it (rabbitmq-server -detached) or set TEST_AMQP_URL; under CI=true they run and fail instead.",
  );
}

export function messageBusFixtures(): MessageBusFixture[] {
  return runsOnRabbitMq ? [memoryFixture(), amqpFixture()] : [memoryFixture()];
}

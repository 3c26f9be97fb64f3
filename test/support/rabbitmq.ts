import { spawnSync } from "node:child_process";
import { connect } from "amqplib";
import { deleteRabbitMqObjects, rabbitmqctl } from "../../tools/cluster/rabbitmq-control";

export const RABBITMQ_URL = process.env.TEST_AMQP_URL ?? "amqp://guest:guest@127.0.0.1:5672";

/**
 * Whether a broker answers on RABBITMQ_URL's port, asked synchronously so that a suite can
 * decide what to declare. Outside CI the AMQP tests are skipped without one; in CI they run
 * (and fail).
 */
export function rabbitMqIsReachable(): boolean {
  const { hostname, port } = new URL(RABBITMQ_URL);
  const probe = `require("node:net").connect(${Number(port || 5672)}, ${JSON.stringify(hostname)})
    .on("connect", () => process.exit(0)).on("error", () => process.exit(1)).setTimeout(1000, () => process.exit(1));`;
  return spawnSync(process.execPath, ["-e", probe]).status === 0;
}

export { deleteRabbitMqObjects, rabbitmqctl };

/** Makes the broker close the connections whose client-given name contains `name`. */
export async function closeConnectionsNamed(name: string): Promise<void> {
  const listing = await rabbitmqctl("list_connections", "--quiet", "--no-table-headers", "pid", "client_properties");
  const pids = listing
    .split("\n")
    .filter((line) => line.includes(name))
    .map((line) => line.split("\t")[0]!);
  if (pids.length === 0) throw new Error(`No connection named ${name}`);
  for (const pid of pids) await rabbitmqctl("close_connection", pid, "closed by a test");
}

/** Deletes the exchanges and queues of a test namespace (work, every delay queue a consumer may have declared, dead letters). */
export async function deleteNamespace(namespace: string, queues: readonly string[], maxAttempts = 100): Promise<void> {
  const connection = await connect(RABBITMQ_URL);
  try {
    const channel = await connection.createChannel();
    for (const queue of queues) {
      await channel.deleteQueue(`${namespace}.${queue}`);
      for (let failures = 1; failures < maxAttempts; failures += 1) await channel.deleteQueue(`${namespace}.${queue}.retry.${failures}`);
    }
    await channel.deleteQueue(`${namespace}.dead-letters`);
    await channel.deleteExchange(`${namespace}.events`);
    await channel.deleteExchange(`${namespace}.dead-letters`);
    await channel.close();
  } finally {
    await connection.close();
  }
}

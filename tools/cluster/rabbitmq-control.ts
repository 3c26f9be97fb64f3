import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { connect } from "amqplib";

const run = promisify(execFile);

/** rabbitmqctl of the local broker (the cluster's fault injection restarts it). */
export async function rabbitmqctl(...args: string[]): Promise<string> {
  const { stdout } = await run("rabbitmqctl", args);
  return stdout;
}

export async function rabbitMqAnswers(url: string): Promise<boolean> {
  return connect(url).then(
    async (connection) => {
      await connection.close();
      return true;
    },
    () => false,
  );
}

/** Deletes every queue and exchange whose name starts with `prefix`. */
export async function deleteRabbitMqObjects(url: string, prefix: string): Promise<void> {
  const names = async (kind: "list_queues" | "list_exchanges") =>
    (await rabbitmqctl(kind, "--quiet", "--no-table-headers", "name"))
      .split("\n")
      .map((line) => line.trim())
      .filter((name) => name.startsWith(prefix));
  const [queues, exchanges] = await Promise.all([names("list_queues"), names("list_exchanges")]);
  const model = await connect(url);
  try {
    const channel = await model.createChannel();
    for (const queue of queues) await channel.deleteQueue(queue);
    for (const exchange of exchanges) await channel.deleteExchange(exchange);
  } finally {
    await model.close();
  }
}

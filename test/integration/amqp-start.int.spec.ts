import { randomUUID } from "node:crypto";
import { Server, Socket, createServer } from "node:net";
import { AmqpMessageBus } from "../../adapters/bus/amqp/bus";
import { RABBITMQ_URL, deleteNamespace } from "../support/rabbitmq";
import { freePort } from "../support/free-port";

const rabbit = new URL(RABBITMQ_URL);
const silent = { info: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined };

/** A TCP door in front of RabbitMQ: it resets every connection until opened, then forwards. */
async function door(): Promise<{ url: string; open(): void; close(): Promise<void>; refused: () => number }> {
  let opened = false;
  let refused = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    sockets.add(client);
    client.on("close", () => sockets.delete(client));
    if (!opened) {
      refused += 1;
      client.resetAndDestroy();
      return;
    }
    const upstream = new Socket();
    sockets.add(upstream);
    upstream.on("close", () => sockets.delete(upstream));
    upstream.connect(Number(rabbit.port || 5672), rabbit.hostname, () => client.pipe(upstream).pipe(client));
    upstream.on("error", () => client.destroy());
    client.on("error", () => upstream.destroy());
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  const url = new URL(RABBITMQ_URL);
  url.hostname = "127.0.0.1";
  url.port = String(port);
  return {
    url: url.toString(),
    open: () => void (opened = true),
    refused: () => refused,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe("the AMQP bus starting while RabbitMQ is away", () => {
  const namespace = `test-${randomUUID()}`;

  afterAll(() => deleteNamespace(namespace, []));

  it("waits for a broker that resets its connections, and starts once it is back", async () => {
    const gate = await door();
    const bus = new AmqpMessageBus({ url: gate.url, namespace, logger: silent });
    try {
      const starting = bus.start();
      // Refused at least twice (two attempts with the backoff), then RabbitMQ is back.
      await new Promise<void>((resolve) => {
        const poll = setInterval(() => gate.refused() >= 2 && (clearInterval(poll), resolve()), 10);
      });
      gate.open();
      await expect(starting).resolves.toBeUndefined();
    } finally {
      await bus.close();
      await gate.close();
    }
  });

  it("fails at once on credentials RabbitMQ refuses: a wrong URL must not go unnoticed", async () => {
    const wrong = new URL(RABBITMQ_URL);
    wrong.username = "nobody";
    wrong.password = "wrong";
    const bus = new AmqpMessageBus({ url: wrong.toString(), namespace, logger: silent });
    const startedAt = Date.now();
    try {
      await expect(bus.start()).rejects.toThrow(/ACCESS[-_]REFUSED/);
      // No retry: one handshake, well under the first backoff's worst case of the patience.
      expect(Date.now() - startedAt).toBeLessThan(5_000);
    } finally {
      await bus.close();
    }
  });
});

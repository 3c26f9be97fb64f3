import { randomUUID } from "node:crypto";
import { connect } from "amqplib";
import { Middleware, ServiceBroker } from "moleculer";
import { AmqpMessageBus } from "../../adapters/bus/amqp/bus";
import { deleteRabbitMqObjects } from "../cluster/rabbitmq-control";

export interface BusFigures {
  messages: number;
  /** Persistent 1 KB messages, publish (with confirms) to consume (acked), per second. */
  ours: number;
  rawAmqplib: number;
  moleculerChannels: number;
  ratioToRaw: number;
  ratioToChannels: number;
}

const COUNT = Number(process.env.BENCH_MESSAGES ?? 20_000);
const PREFETCH = 100;
const payload = { orderId: "o", note: "x".repeat(1000) };

/** Resolves with messages/s once `count` messages have been consumed. */
function counter(count: number): { received(): void; done: Promise<number> } {
  let received = 0;
  const started = process.hrtime.bigint();
  let finish!: (perSecond: number) => void;
  const done = new Promise<number>((resolve) => (finish = resolve));
  return {
    received() {
      received += 1;
      if (received === count) finish(Math.round(count / (Number(process.hrtime.bigint() - started) / 1e9)));
    },
    done,
  };
}

async function ours(url: string): Promise<number> {
  const namespace = `bench-${randomUUID()}`;
  const bus = new AmqpMessageBus({ url, namespace, logger: { info() {}, warn() {}, error() {} } });
  try {
    const consumed = counter(COUNT);
    await bus.consume("bench", ["Bench"], async () => consumed.received(), { prefetch: PREFETCH, retry: { attempts: 1, baseMs: 1, maxMs: 1 } });
    await Promise.all(Array.from({ length: COUNT }, (_, index) => bus.publish({ messageId: String(index), topic: "Bench", payload })));
    return await consumed.done;
  } finally {
    await bus.close();
    await deleteRabbitMqObjects(url, namespace);
  }
}

/** The ceiling: amqplib alone, a confirm channel, the same kind of queue (quorum), acks one by one. */
async function rawAmqplib(url: string): Promise<number> {
  const queue = `bench-raw-${randomUUID()}`;
  const connection = await connect(url, { noDelay: true });
  try {
    const consumer = await connection.createChannel();
    await consumer.assertQueue(queue, { durable: true, arguments: { "x-queue-type": "quorum" } });
    await consumer.prefetch(PREFETCH);
    const consumed = counter(COUNT);
    await consumer.consume(queue, (message) => {
      if (!message) return;
      JSON.parse(message.content.toString());
      consumer.ack(message);
      consumed.received();
    });
    const publisher = await connection.createConfirmChannel();
    const body = Buffer.from(JSON.stringify(payload));
    for (let index = 0; index < COUNT; index += 1) {
      publisher.sendToQueue(queue, body, { persistent: true, messageId: String(index), contentType: "application/json" });
    }
    await publisher.waitForConfirms();
    const perSecond = await consumed.done;
    await consumer.deleteQueue(queue);
    return perSecond;
  } finally {
    await connection.close();
  }
}

/** @moleculer/channels 0.1.8 with its AMQP adapter, for comparison only (a dev dependency). */
async function moleculerChannels(url: string): Promise<number> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- a comparison-only dev dependency without typings, loaded when its part runs
  const { Middleware: ChannelsMiddleware } = require("@moleculer/channels") as { Middleware: (options: object) => Middleware };
  const namespace = `bench-channels-${randomUUID()}`;
  const consumed = counter(COUNT);
  const broker = new ServiceBroker({
    namespace,
    logger: false,
    middlewares: [ChannelsMiddleware({ adapter: { type: "AMQP", options: { amqp: { url, socketOptions: { noDelay: true } }, maxInFlight: PREFETCH } } })],
  });
  // `channels` is the middleware's addition to the schema, outside Moleculer's typings.
  const channelsService = {
    name: "bench",
    channels: { [`${namespace}.bench`]: { group: "bench", handler: async () => consumed.received() } },
  };
  broker.createService(channelsService);
  await broker.start();
  try {
    // The middleware adds sendToChannel to the broker, outside Moleculer's typings.
    const sendToChannel = Reflect.get(broker, "sendToChannel") as (name: string, payload: object) => Promise<void>;
    // Its publish neither waits for a confirm nor for the socket to drain: past the write
    // buffer it throws "Write buffer is full", so the sender waits a moment and sends again.
    for (let sent = 0; sent < COUNT;) {
      try {
        await sendToChannel.call(broker, `${namespace}.bench`, payload);
        sent += 1;
      } catch (error) {
        if (!(error as Error).message.includes("Write buffer is full")) throw error;
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
    }
    return await consumed.done;
  } finally {
    await broker.stop();
    await deleteRabbitMqObjects(url, namespace);
  }
}

/** Our AMQP adapter beside amqplib alone and beside @moleculer/channels, one after another. */
export async function benchBus(url: string): Promise<BusFigures> {
  const raw = await rawAmqplib(url);
  const ourFigure = await ours(url);
  const channels = await moleculerChannels(url);
  return { messages: COUNT, ours: ourFigure, rawAmqplib: raw, moleculerChannels: channels, ratioToRaw: ourFigure / raw, ratioToChannels: ourFigure / channels };
}

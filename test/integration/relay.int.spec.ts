import { ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ServiceBroker } from "moleculer";
import { Consumer, MessageBus, createMessageBus } from "../../adapters/bus";
import { EventData, NO_STREAM } from "../../adapters/event-store";
import { SqliteEventStore } from "../../adapters/event-store/sqlite";
import { relayService } from "../../services/relay.service";
import { RABBITMQ_URL, deleteNamespace } from "../support/rabbitmq";
import { anEvent } from "../support/events";
import { waitFor } from "../../lib/wait-for";

const MAIN = join(__dirname, "..", "..", "dist", "main.js");

/** Every message the relay publishes, by message id, with how often it came. */
class Probe {
  readonly seen = new Map<string, number>();
  private consumer: Consumer | undefined;

  constructor(private readonly bus: MessageBus) {}

  async start(): Promise<void> {
    this.consumer = await this.bus.consume(
      "probe",
      ["#"],
      async (delivery) => {
        this.seen.set(delivery.messageId, (this.seen.get(delivery.messageId) ?? 0) + 1);
      },
      { prefetch: 100, retry: { attempts: 3, baseMs: 10, maxMs: 50 } },
    );
  }

  deliveries(): number {
    return [...this.seen.values()].reduce((sum, count) => sum + count, 0);
  }

  stop(): Promise<void> {
    return this.consumer?.stop() ?? Promise.resolve();
  }
}

async function appendOrders(store: SqliteEventStore, count: number): Promise<EventData[]> {
  const events: EventData[] = [];
  for (let index = 0; index < count; index += 1) {
    const event = anEvent("OrderCreated", { orderId: randomUUID(), n: index });
    await store.append(`order-${event.data.orderId}`, [event], { expectedRevision: NO_STREAM });
    events.push(event);
  }
  return events;
}

describe("relay: the event store is the outbox (AMQP bus on RabbitMQ, SQLite store)", () => {
  let dir: string;
  let namespace: string;
  let bus: MessageBus;
  let probe: Probe;
  let store: SqliteEventStore;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "glitchbuster-relay-"));
    namespace = `test-${randomUUID()}`;
    bus = createMessageBus(RABBITMQ_URL, { namespace });
    probe = new Probe(bus);
    await probe.start();
    store = new SqliteEventStore(join(dir, "events.db"));
  });
  afterEach(async () => {
    await probe.stop();
    await bus.close();
    await store.close();
    await deleteNamespace(namespace, ["probe"]);
    rmSync(dir, { recursive: true, force: true });
  });

  it("publishes events appended while it was down once it starts, with the event as payload", async () => {
    const appended = await appendOrders(store, 20);
    const broker = new ServiceBroker({ logger: false });
    broker.createService(
      relayService({ eventStoreUrl: `sqlite:${join(dir, "events.db")}`, bus: { url: RABBITMQ_URL, namespace }, pollMs: 5 }),
    );
    const received: unknown[] = [];
    const payloads = await bus.consume("payloads", ["OrderCreated"], async (delivery) => void received.push(delivery), {
      prefetch: 10,
      retry: { attempts: 1, baseMs: 1, maxMs: 1 },
    });

    await broker.start();
    await waitFor(() => probe.seen.size === appended.length, { what: "every event to be published" });
    await waitFor(() => received.length === appended.length, { what: "every OrderCreated to reach its queue" });
    await broker.stop();
    await payloads.stop();
    await deleteNamespace(namespace, ["payloads"]);

    expect([...probe.seen.keys()].sort()).toEqual(appended.map((event) => event.id).sort());
    expect(received[0]).toMatchObject({
      messageId: appended[0]!.id,
      topic: "OrderCreated",
      attempt: 1,
      headers: { correlationId: appended[0]!.metadata.correlationId, causationId: appended[0]!.metadata.causationId },
      payload: {
        id: appended[0]!.id,
        type: "OrderCreated",
        stream: `order-${appended[0]!.data.orderId}`,
        revision: 0,
        data: appended[0]!.data,
        metadata: appended[0]!.metadata,
      },
    });
  });

  it("loses nothing when its process is killed (-9) mid-run: every event is published after the restart", async () => {
    expect(existsSync(MAIN)).toBe(true); // `npm test` compiles dist/ before jest runs
    const env = {
      ...process.env,
      SERVICES: "relay",
      EVENT_STORE_URL: `sqlite:${join(dir, "events.db")}`,
      AMQP_URL: RABBITMQ_URL,
      BUS_NAMESPACE: namespace,
      RELAY_POLL_MS: "5",
      LOG_LEVEL: "warn",
      METRICS_PORT: "0",
    };
    const startRelay = (): ChildProcess => spawn(process.execPath, [MAIN], { env, stdio: "ignore" });

    const first = startRelay();
    const before = await appendOrders(store, 500);
    await waitFor(() => probe.seen.size > 0, { what: "the relay to publish" });
    first.kill("SIGKILL");
    await once(first, "exit");
    const whileDown = await appendOrders(store, 500);
    const second = startRelay();
    try {
      const all = [...before, ...whileDown].map((event) => event.id);
      await waitFor(() => all.every((id) => probe.seen.has(id)), { timeoutMs: 30_000, what: "every event to be published" });

      expect(probe.seen.size).toBe(all.length);
      expect(probe.deliveries()).toBeGreaterThanOrEqual(all.length);
    } finally {
      second.kill("SIGTERM");
      await once(second, "exit");
    }
    expect(second.exitCode).toBe(0);
  });
});

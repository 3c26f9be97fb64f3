import { ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ServiceBroker } from "moleculer";
import { MessageBus, createMessageBus } from "../../adapters/bus";
import { EventData, EventStore, NO_STREAM, acquireEventStore, releaseEventStore } from "../../adapters/event-store";
import { Checkpoints } from "../../adapters/event-store/checkpoints";
import { MemoryEventStore } from "../../adapters/event-store/memory";
import { SqliteEventStore } from "../../adapters/event-store/sqlite";
import { MemoryMessageBus } from "../../adapters/bus/memory/bus";
import { relayService } from "../../services/relay.service";
import { OutboxRelay } from "../../services/relay/outbox-relay";
import { acquireMessageBus, releaseMessageBus } from "../../adapters/bus";
import { RABBITMQ_URL, deleteNamespace } from "../support/rabbitmq";
import { anEvent } from "../support/events";
import { waitFor } from "../../tools/wait-for";
import { PublishProbe } from "../support/publish-probe";

const MAIN = join(__dirname, "..", "..", "dist", "main.js");

async function appendOrders(store: EventStore, count: number): Promise<EventData[]> {
  const events: EventData[] = [];
  for (let index = 0; index < count; index += 1) {
    const event = anEvent("OrderCreated", { orderId: randomUUID(), n: index });
    await store.append(`order-${String(event.data.orderId)}`, [event], { expectedRevision: NO_STREAM });
    events.push(event);
  }
  return events;
}

describe("relay on the memory bus: the checkpoint passes only what its consumers settled", () => {
  const retry = { attempts: 3, baseMs: 10, maxMs: 50 };
  const logger = new ServiceBroker({ logger: false }).getLogger("relay");
  const relayOn = (store: EventStore, bus: MessageBus) =>
    new OutboxRelay({ store, bus, checkpoints: new Checkpoints(store), name: "relay", pollMs: 5, batchSize: 500, windowSize: 10, logger });

  it("holds at most windowSize unsettled, keeps the rest in the store, and publishes what was unsettled again after a restart", async () => {
    const store = new MemoryEventStore();
    const appended = await appendOrders(store, 50);
    const firstBus = new MemoryMessageBus({ stopTimeoutMs: 10 });
    const held = new Promise<void>(() => undefined); // a process that dies with these handlers running
    const firstSeen: string[] = [];
    await firstBus.consume(
      "orchestrator",
      ["OrderCreated"],
      async (delivery) => {
        firstSeen.push(delivery.messageId);
        if (firstSeen.length > 20) await held;
      },
      { prefetch: 5, retry },
    );
    const first = relayOn(store, firstBus);

    first.start();
    await waitFor(() => first.status().inFlight === 10 && firstSeen.length === 25, { what: "the window to fill" });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(first.status()).toMatchObject({ published: 30, inFlight: 10 });
    await first.stop();
    await firstBus.close();
    const checkpoint = await new Checkpoints(store).load("relay");

    const secondBus = new MemoryMessageBus();
    const secondSeen: string[] = [];
    await secondBus.consume("orchestrator", ["OrderCreated"], async (delivery) => void secondSeen.push(delivery.messageId), { prefetch: 5, retry });
    const second = relayOn(store, secondBus);
    second.start();
    await waitFor(() => secondSeen.length === 30, { what: "the unsettled and unpublished events to be published" });
    await waitFor(() => second.status().inFlight === 0);
    await second.stop();
    await secondBus.close();

    const events = await store.readAll();
    expect(checkpoint).toBe(events[19]!.position);
    expect(secondSeen).toEqual(appended.slice(20).map((event) => event.id));
    expect(await new Checkpoints(store).load("relay")).toBe(events[49]!.position);
  });
});

describe("relay service on the memory bus", () => {
  it("publishes only once every local service has started: a queue declared late still gets the backlog", async () => {
    const storeUrl = `memory:${randomUUID()}`;
    const busOptions = { url: "memory:", namespace: `test-${randomUUID()}` };
    const store = acquireEventStore(storeUrl);
    const bus = acquireMessageBus(busOptions);
    const appended = await appendOrders(store, 5);
    const received: string[] = [];
    const broker = new ServiceBroker({ logger: false });
    broker.createService(relayService({ eventStoreUrl: storeUrl, bus: busOptions, pollMs: 5 }));
    broker.createService({
      name: "late-consumer",
      async started() {
        // A consumer that declares its queue after a slow start (the memory bus has no queue before).
        await new Promise((resolve) => setTimeout(resolve, 200));
        await bus.consume("late", ["OrderCreated"], async (delivery) => void received.push(delivery.messageId), {
          prefetch: 5,
          retry: { attempts: 1, baseMs: 1, maxMs: 1 },
        });
      },
    });

    await broker.start();
    try {
      await waitFor(() => received.length === appended.length, { what: "the backlog in the late queue" });
      expect(received).toEqual(appended.map((event) => event.id));
    } finally {
      await broker.stop();
      await releaseMessageBus(busOptions);
      await releaseEventStore(storeUrl);
    }
  });
});

describe("relay: the event store is the outbox (AMQP bus on RabbitMQ, SQLite store)", () => {
  let dir: string;
  let namespace: string;
  let bus: MessageBus;
  let probe: PublishProbe;
  let store: SqliteEventStore;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "glitchbuster-relay-"));
    namespace = `test-${randomUUID()}`;
    bus = createMessageBus(RABBITMQ_URL, { namespace });
    probe = new PublishProbe(bus);
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
    broker.createService(relayService({ eventStoreUrl: `sqlite:${join(dir, "events.db")}`, bus: { url: RABBITMQ_URL, namespace }, pollMs: 5 }));
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
        stream: `order-${String(appended[0]!.data.orderId)}`,
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

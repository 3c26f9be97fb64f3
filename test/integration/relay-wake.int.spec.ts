/**
 * Item 3 of issue 12, "wake, don't poll": an append wakes the relay, which polls only as a
 * slow fallback. With a 5 s fallback, an event appended after the relay went idle is published
 * within WAKE_BOUND_MS, which polling could not do; by this process's append (the embedded
 * mode) and by another process's (the cluster: SQLite's file watched, PostgreSQL's NOTIFY).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { ServiceBroker } from "moleculer";
import { Client } from "pg";
import { MemoryMessageBus } from "../../adapters/bus/memory/bus";
import { EventStore, NO_STREAM } from "../../adapters/event-store";
import { Checkpoints } from "../../adapters/event-store/checkpoints";
import { MemoryEventStore } from "../../adapters/event-store/memory";
import { PostgresEventStore } from "../../adapters/event-store/postgres";
import { SqliteEventStore } from "../../adapters/event-store/sqlite";
import { waitFor } from "../../tools/wait-for";
import { OutboxRelay } from "../../services/relay/outbox-relay";
import { createTestDatabase, runsOnPostgres } from "../support/event-stores";
import { anEvent, uniqueStream } from "../support/events";

const FALLBACK_POLL_MS = 5000;
const WAKE_BOUND_MS = 200;
const EVENTS = 20;

/** The relay's store, and the one the test appends with: the same, or another connection to the same data. */
interface Stores {
  relay: EventStore;
  appender: EventStore;
  dispose(): Promise<void>;
}

function sqliteStores(sameConnection: boolean): () => Promise<Stores> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), "glitchbuster-wake-"));
    const relay = new SqliteEventStore(join(dir, "events.db"));
    const appender = sameConnection ? relay : new SqliteEventStore(join(dir, "events.db"));
    return {
      relay,
      appender,
      async dispose() {
        await Promise.all([relay.close(), appender.close()]);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  };
}

function postgresStores(sameStore: boolean): () => Promise<Stores> {
  return async () => {
    const database = await createTestDatabase();
    const relay = new PostgresEventStore(database.url);
    const appender = sameStore ? relay : new PostgresEventStore(database.url);
    await Promise.all([relay.ping(), appender.ping()]);
    return {
      relay,
      appender,
      async dispose() {
        await Promise.all([relay.close(), appender.close()]);
        await database.drop();
      },
    };
  };
}

const cases: { name: string; open: () => Promise<Stores> }[] = [
  {
    name: "memory",
    async open() {
      const store = new MemoryEventStore();
      return { relay: store, appender: store, dispose: () => store.close() };
    },
  },
  { name: "sqlite, appended by this process", open: sqliteStores(true) },
  { name: "sqlite, appended by another process (another connection to the file)", open: sqliteStores(false) },
  ...(runsOnPostgres
    ? [
        { name: "postgres, appended by this process", open: postgresStores(true) },
        { name: "postgres, appended by another process (NOTIFY)", open: postgresStores(false) },
      ]
    : []),
];

const logger = new ServiceBroker({ logger: false }).getLogger("relay");
const retry = { attempts: 1, baseMs: 1, maxMs: 1 };

/** A relay on the memory bus with a probe queue that notes when each message arrived. */
async function relayWithProbe(store: EventStore, pollMs: number) {
  const bus = new MemoryMessageBus({ stopTimeoutMs: 100 });
  const arrivals = new Map<string, number>();
  await bus.consume("probe", ["#"], async (delivery) => void arrivals.set(delivery.messageId, performance.now()), { prefetch: 100, retry });
  const relay = new OutboxRelay({ store, bus, checkpoints: new Checkpoints(store), name: "relay", pollMs, batchSize: 500, windowSize: 100, logger });
  relay.start();
  await waitFor(() => relay.status().leader, { what: "the relay to lead" });
  return {
    relay,
    arrivals,
    async stop() {
      await relay.stop();
      await bus.close();
    },
  };
}

describe.each(cases)("relay woken by appends: $name", ({ open }) => {
  let stores: Stores;
  beforeEach(async () => {
    stores = await open();
  });
  afterEach(() => stores.dispose());

  it(`publishes each event appended while it is idle within ${WAKE_BOUND_MS} ms, with a ${FALLBACK_POLL_MS} ms fallback poll`, async () => {
    const { arrivals, stop } = await relayWithProbe(stores.relay, FALLBACK_POLL_MS);
    try {
      await sleep(50); // its first read found nothing: it waits
      const latencies: number[] = [];
      for (let index = 0; index < EVENTS; index += 1) {
        const event = anEvent("OrderCreated", { n: index });
        const appended = performance.now();
        await stores.appender.append(uniqueStream("order"), [event], { expectedRevision: NO_STREAM });
        const arrived = await waitFor(() => arrivals.get(event.id), { intervalMs: 1, timeoutMs: FALLBACK_POLL_MS * 2, what: `event ${index}` });
        latencies.push(arrived - appended);
        await sleep(10); // idle again
      }

      expect(Math.max(...latencies)).toBeLessThan(WAKE_BOUND_MS);
    } finally {
      await stop();
    }
  });
});

describe("relay without wakes", () => {
  it("still publishes by its fallback poll when no wake comes", async () => {
    const store = new MemoryEventStore();
    // A store whose wakes are all missed.
    const deaf: EventStore = {
      append: (stream, events, options) => store.append(stream, events, options),
      read: (stream, options) => store.read(stream, options),
      readAll: (options) => store.readAll(options),
      onAppended: () => () => undefined,
      tryAcquireLease: (name, ttlMs) => store.tryAcquireLease(name, ttlMs),
      ping: () => store.ping(),
      close: () => store.close(),
    };
    const { arrivals, stop } = await relayWithProbe(deaf, 100);
    try {
      await sleep(20);
      const event = anEvent("OrderCreated");
      await store.append(uniqueStream("order"), [event], { expectedRevision: NO_STREAM });

      await waitFor(() => arrivals.has(event.id), { timeoutMs: 1000, what: "the poll to find it" });
    } finally {
      await stop();
    }
  });
});

(runsOnPostgres ? describe : describe.skip)("relay woken by an event that PostgreSQL does not show yet", () => {
  it("looks again soon, not at its fallback poll, while an older transaction holds the log back", async () => {
    const database = await createTestDatabase();
    const store = new PostgresEventStore(database.url);
    const older = new Client({ connectionString: database.url });
    await older.connect();
    const { arrivals, stop } = await relayWithProbe(store, FALLBACK_POLL_MS);
    try {
      await sleep(50);
      // A transaction with an id (a projector's, say), older than the append: readAll shows
      // nothing after it until it ends, and its commit notifies no one.
      await older.query("BEGIN");
      await older.query("SELECT pg_current_xact_id()");
      const event = anEvent("OrderCreated");
      await store.append(uniqueStream("order"), [event], { expectedRevision: NO_STREAM });
      await sleep(300);
      expect(arrivals.has(event.id)).toBe(false);

      const committed = performance.now();
      await older.query("COMMIT");
      const arrived = await waitFor(() => arrivals.get(event.id), { intervalMs: 1, timeoutMs: FALLBACK_POLL_MS * 2 });

      expect(arrived - committed).toBeLessThan(WAKE_BOUND_MS);
    } finally {
      await stop();
      await older.end();
      await store.close();
      await database.drop();
    }
  });
});

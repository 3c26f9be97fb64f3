/**
 * Item 4 of issue 12, "one relay at a time": two relays, each a `node dist/main.js` process
 * with SERVICES=relay, on one store and one RabbitMQ. Exactly one publishes (every message
 * arrives once); after the leader's kill -9 the other takes over from the durable checkpoint
 * within 5 s, and every event is published (at least once, none missing).
 */
import { ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import { MessageBus, createMessageBus } from "../../adapters/bus";
import { EventStore, NO_STREAM } from "../../adapters/event-store";
import { PostgresEventStore } from "../../adapters/event-store/postgres";
import { SqliteEventStore } from "../../adapters/event-store/sqlite";
import { waitFor } from "../../tools/wait-for";
import { MAIN } from "../support/app-process";
import { createTestDatabase, runsOnPostgres } from "../support/event-stores";
import { anEvent } from "../support/events";
import { RABBITMQ_URL, deleteNamespace } from "../support/rabbitmq";
import { PublishProbe } from "../support/publish-probe";

const TAKEOVER_BOUND_MS = 5000;

/** A relay process, with the lines it printed. */
interface RelayProcess {
  child: ChildProcess;
  output: string[];
  exited: Promise<unknown>;
}

interface StoreUnderTest {
  url: string;
  store: EventStore;
  dispose(): Promise<void>;
}

const stores: { name: string; open(): Promise<StoreUnderTest> }[] = [
  {
    name: "sqlite (a lease row in the file)",
    async open() {
      const dir = mkdtempSync(join(tmpdir(), "glitchbuster-failover-"));
      const path = join(dir, "events.db");
      const store = new SqliteEventStore(path);
      return {
        url: `sqlite:${path}`,
        store,
        async dispose() {
          await store.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  },
  ...(runsOnPostgres
    ? [
        {
          name: "postgres (an advisory lock on a session)",
          async open(): Promise<StoreUnderTest> {
            const database = await createTestDatabase();
            const store = new PostgresEventStore(database.url);
            await store.ping();
            return {
              url: database.url,
              store,
              async dispose() {
                await store.close();
                await database.drop();
              },
            };
          },
        },
      ]
    : []),
];

async function appendOrders(store: EventStore, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let index = 0; index < count; index += 1) {
    const event = anEvent("OrderCreated", { orderId: randomUUID(), n: index });
    await store.append(`order-${String(event.data.orderId)}`, [event], { expectedRevision: NO_STREAM });
    ids.push(event.id);
  }
  return ids;
}

describe.each(stores)("two relays on one store: $name", ({ open }) => {
  let underTest: StoreUnderTest;
  let namespace: string;
  let bus: MessageBus;
  let probe: PublishProbe;
  const relays: RelayProcess[] = [];

  const startRelay = (): RelayProcess => {
    const inherited = { ...process.env };
    for (const name of ["TRANSPORTER", "NODE_ID", "PORT"]) delete inherited[name];
    const child = spawn(process.execPath, [MAIN], {
      env: {
        ...inherited,
        SERVICES: "relay",
        EVENT_STORE_URL: underTest.url,
        AMQP_URL: RABBITMQ_URL,
        BUS_NAMESPACE: namespace,
        // Appends wake the relay: its poll is only a fallback, too slow to pass these tests.
        RELAY_POLL_MS: "5000",
        LOG_LEVEL: "info",
        METRICS_PORT: "0",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const output: string[] = [];
    for (const stream of [child.stdout, child.stderr]) createInterface({ input: stream }).on("line", (line) => output.push(line));
    const relay = { child, output, exited: once(child, "exit") };
    relays.push(relay);
    return relay;
  };

  beforeEach(async () => {
    expect(existsSync(MAIN)).toBe(true); // `npm test` compiles dist/ before jest runs
    underTest = await open();
    namespace = `test-${randomUUID()}`;
    bus = createMessageBus(RABBITMQ_URL, { namespace });
    probe = new PublishProbe(bus);
    await probe.start();
  });
  afterEach(async () => {
    for (const { child, exited } of relays.splice(0)) {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await exited;
    }
    await probe.stop();
    await bus.close();
    await deleteNamespace(namespace, ["probe"]);
    await underTest.dispose();
  });

  it("publishes from one of them only, and from the other within 5 s of the leader's kill -9, losing nothing", async () => {
    const { store } = underTest;
    const leader = startRelay();
    const first = await appendOrders(store, 100);
    await waitFor(() => first.every((id) => probe.firstSeen.has(id)), { timeoutMs: 20_000, what: "the first relay to publish" });
    const standby = startRelay();
    await waitFor(() => standby.output.some((line) => line.includes("standing by")), {
      timeoutMs: 20_000,
      what: `the second relay to stand by:\n${standby.output.join("\n")}`,
    });

    const whileBoth = await appendOrders(store, 200);
    await waitFor(() => whileBoth.every((id) => probe.firstSeen.has(id)), { what: "the events appended while both run" });
    await sleep(300); // a second publisher would have sent its copies by now

    expect(probe.deliveries()).toBe(first.length + whileBoth.length);
    expect(probe.firstSeen.size).toBe(first.length + whileBoth.length);

    // The leader dies mid-flow: events keep coming before, during and after the kill.
    let appending = true;
    const duringKill: string[] = [];
    const appender = (async () => {
      while (appending) {
        duringKill.push(...(await appendOrders(store, 1)));
        await sleep(2);
      }
    })();
    await sleep(100);
    leader.child.kill("SIGKILL");
    const killed = performance.now();
    await leader.exited;
    const afterKill = await appendOrders(store, 1);
    await sleep(500);
    appending = false;
    await appender;

    const all = [...first, ...whileBoth, ...duringKill, ...afterKill];
    await waitFor(() => all.every((id) => probe.firstSeen.has(id)), { timeoutMs: 20_000, what: "every event to be published" });
    const takeoverMs = probe.firstSeen.get(afterKill[0]!)! - killed;

    expect(takeoverMs).toBeLessThan(TAKEOVER_BOUND_MS);
    expect(probe.firstSeen.size).toBe(all.length);
    expect(probe.deliveries()).toBeGreaterThanOrEqual(all.length);

    standby.child.kill("SIGTERM");
    await standby.exited;
    expect(standby.child.exitCode).toBe(0);
  });
});

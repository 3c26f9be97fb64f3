import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EventStore } from "../../adapters/event-store";
import { EventStoreDbEventStore, isEventStoreDbUrl } from "../../adapters/event-store/eventstoredb";
import { MemoryEventStore } from "../../adapters/event-store/memory";
import { PostgresEventStore } from "../../adapters/event-store/postgres";
import { SqliteEventStore } from "../../adapters/event-store/sqlite";
import { VersionedEventStore } from "../../adapters/event-store/versioned";
import { ScratchDatabase, createScratchDatabase } from "../../adapters/postgres-databases";
import { EVENT_UPCASTERS } from "../../domain/upcasting";
import { startEventStoreDbFake } from "./esdb-fake";

/** The PostgreSQL server on which each test run creates (and drops) a database of its own. */
export const POSTGRES_URL = process.env.TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

/**
 * Whether PostgreSQL accepts a connection on POSTGRES_URL, asked synchronously (in a child
 * process) so that a suite can decide what to declare.
 */
export function postgresIsReachable(): boolean {
  const probe = `const { Client } = require(${JSON.stringify(require.resolve("pg"))});
    const client = new Client({ connectionString: ${JSON.stringify(POSTGRES_URL)}, connectionTimeoutMillis: 2000 });
    client.connect().then(() => client.end()).then(() => process.exit(0), () => process.exit(1));`;
  return spawnSync(process.execPath, ["-e", probe], { timeout: 5000 }).status === 0;
}

/** PostgreSQL tests run when it answers, and always in CI, where its absence must fail them. */
export const runsOnPostgres = process.env.CI === "true" || postgresIsReachable();
if (!runsOnPostgres) {
  console.warn(
    `PostgreSQL does not answer at ${POSTGRES_URL}: the PostgreSQL event store tests are SKIPPED.\n` +
      "Start it (pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start) or set TEST_POSTGRES_URL; " +
      "under CI=true they run and fail instead.",
  );
}

/** A database of its own on POSTGRES_URL's server, for one test run; drop() removes it. */
export function createTestDatabase(): Promise<ScratchDatabase> {
  return createScratchDatabase(POSTGRES_URL, "glitchbuster_test");
}

const postgresFixture: EventStoreFixture = {
  name: "postgres",
  async open() {
    const database = await createTestDatabase();
    const adapter = new PostgresEventStore(database.url);
    return {
      ...versioned(adapter),
      async dispose() {
        await adapter.close();
        await database.drop();
      },
    };
  },
};

/** One adapter under test, with what it needs around it (a temp dir, the gRPC fake). */
export interface EventStoreFixture {
  name: string;
  open(): Promise<OpenedEventStore>;
}

export interface OpenedEventStore {
  /** The adapter as index.ts hands it out: its events versioned by the domain's upcasters. */
  store: EventStore;
  /** The same adapter bare, which writes events as given: history as older code wrote it. */
  adapter: EventStore;
  dispose(): Promise<void>;
}

function versioned(adapter: EventStore): Pick<OpenedEventStore, "store" | "adapter"> {
  return { store: new VersionedEventStore(adapter, EVENT_UPCASTERS), adapter };
}

export const eventStoreFixtures: EventStoreFixture[] = [
  {
    name: "memory",
    async open() {
      const adapter = new MemoryEventStore();
      return { ...versioned(adapter), dispose: () => adapter.close() };
    },
  },
  {
    name: "sqlite",
    async open() {
      const dir = mkdtempSync(join(tmpdir(), "glitchbuster-es-"));
      const adapter = new SqliteEventStore(join(dir, "events.db"));
      return {
        ...versioned(adapter),
        async dispose() {
          await adapter.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  },
  {
    // EVENT_STORE_URL=kurrentdb://... (or esdb://...) runs the same suite against a real server.
    name: isEventStoreDbUrl(process.env.EVENT_STORE_URL ?? "") ? "eventstoredb (server)" : "eventstoredb (gRPC fake)",
    async open() {
      const external = process.env.EVENT_STORE_URL;
      if (external && isEventStoreDbUrl(external)) {
        const adapter = new EventStoreDbEventStore(external);
        return { ...versioned(adapter), dispose: () => adapter.close() };
      }
      const fake = await startEventStoreDbFake();
      const adapter = new EventStoreDbEventStore(fake.url);
      return {
        ...versioned(adapter),
        async dispose() {
          await adapter.close();
          await fake.stop();
        },
      };
    },
  },
  ...(runsOnPostgres ? [postgresFixture] : []),
];

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { Client } from "pg";
import { EventStore } from "../../adapters/event-store";
import { MemoryEventStore } from "../../adapters/event-store/memory";
import { PostgresEventStore } from "../../adapters/event-store/postgres";
import { SqliteEventStore } from "../../adapters/event-store/sqlite";
import { ReadModelStore } from "../../adapters/read-model";
import { MemoryReadModelStore } from "../../adapters/read-model/memory";
import { PostgresReadModelStore } from "../../adapters/read-model/postgres";
import { SqliteReadModelStore } from "../../adapters/read-model/sqlite";
import { createTestDatabase, runsOnPostgres } from "./event-stores";

/** One read-model adapter with the log it sits beside (as the app wires them), opened for one test. */
export interface OpenReadModel {
  /** The event store whose read models these are (same file, same database, same process). */
  log: EventStore;
  store: ReadModelStore;
  /** Another connection to the same read models, as another node would have; the same store in memory. */
  another(): ReadModelStore;
  /**
   * Makes every write of a checkpoint fail inside the database (a trigger), after the rows of
   * its batch were written; the returned function removes it. Undefined where nothing can fail
   * after the rows are staged (memory: a batch is folded and serialised before it is written).
   */
  failCheckpointWrites?(): Promise<() => Promise<void>>;
  /**
   * Opens a transaction that takes a transaction id and stays open until the returned function
   * ends it: PostgreSQL's readAll hides the events committed after it began meanwhile.
   * Undefined where no transaction hides another's commits.
   */
  holdOlderTransaction?(): Promise<() => Promise<void>>;
  dispose(): Promise<void>;
}

export interface ReadModelFixture {
  name: string;
  open(): Promise<OpenReadModel>;
}

const sqlite: ReadModelFixture = {
  name: "sqlite",
  async open() {
    const dir = mkdtempSync(join(tmpdir(), "glitchbuster-rm-"));
    const path = join(dir, "events.db");
    const log = new SqliteEventStore(path);
    const store = new SqliteReadModelStore(path);
    const others: ReadModelStore[] = [];
    return {
      log,
      store,
      another() {
        const other = new SqliteReadModelStore(path);
        others.push(other);
        return other;
      },
      async failCheckpointWrites() {
        const db = new Database(path);
        db.exec(`CREATE TRIGGER fail_checkpoint BEFORE UPDATE ON projections BEGIN SELECT RAISE(ABORT, 'checkpoint write failed (test)'); END;`);
        return async () => {
          db.exec("DROP TRIGGER fail_checkpoint");
          db.close();
        };
      },
      async dispose() {
        for (const other of others) await other.close();
        await store.close();
        await log.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
};

const postgres: ReadModelFixture = {
  name: "postgres",
  async open() {
    const database = await createTestDatabase();
    const log = new PostgresEventStore(database.url);
    const store = new PostgresReadModelStore(database.url);
    const others: ReadModelStore[] = [];
    const onDatabase = async (sql: string) => {
      const client = new Client({ connectionString: database.url });
      await client.connect();
      try {
        await client.query(sql);
      } finally {
        await client.end();
      }
    };
    return {
      log,
      store,
      another() {
        const other = new PostgresReadModelStore(database.url);
        others.push(other);
        return other;
      },
      async failCheckpointWrites() {
        await onDatabase(`
          CREATE FUNCTION fail_checkpoint() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'checkpoint write failed (test)'; END $$;
          CREATE TRIGGER fail_checkpoint BEFORE UPDATE ON projections FOR EACH ROW EXECUTE FUNCTION fail_checkpoint();`);
        return () => onDatabase("DROP TRIGGER fail_checkpoint ON projections; DROP FUNCTION fail_checkpoint();");
      },
      async holdOlderTransaction() {
        const client = new Client({ connectionString: database.url });
        await client.connect();
        await client.query("BEGIN");
        await client.query("SELECT pg_current_xact_id()");
        return async () => {
          await client.query("COMMIT");
          await client.end();
        };
      },
      async dispose() {
        for (const other of others) await other.close();
        await store.close();
        await log.close();
        await database.drop();
      },
    };
  },
};

export const readModelFixtures: ReadModelFixture[] = [
  {
    name: "memory",
    async open() {
      const log = new MemoryEventStore();
      const store = new MemoryReadModelStore();
      return { log, store, another: () => store, dispose: () => log.close() };
    },
  },
  sqlite,
  ...(runsOnPostgres ? [postgres] : []),
];

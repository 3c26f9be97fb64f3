import type { Pool } from "pg";
import { inTransaction } from "../postgres-databases";

/**
 * The PostgreSQL event store's schema, as numbered migrations applied in order when a store
 * starts. No migration library: the schema is a handful of statements, nobody runs a CLI
 * against it, and what a library would add (a lock, a table of applied versions) is the
 * twenty lines below.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/**
 * Events of one append share its transaction's id, and an event's position is that id times
 * POSITIONS_PER_TRANSACTION plus its index in the append (see postgres.ts for why).
 */
export const POSITION_SHIFT = 16;
export const POSITIONS_PER_TRANSACTION = 2 ** POSITION_SHIFT;

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "events",
    sql: `
      CREATE TABLE events (
        position bigint PRIMARY KEY,
        transaction_id xid8 NOT NULL,
        stream_id text NOT NULL,
        revision integer NOT NULL CHECK (revision >= 0),
        event_id uuid NOT NULL,
        type text NOT NULL,
        data jsonb NOT NULL,
        metadata jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        -- The optimistic check: two appends that computed the same next revision cannot both commit.
        CONSTRAINT events_stream_revision_key UNIQUE (stream_id, revision),
        -- A re-append of written ids is recognised (and answered as the first append was).
        CONSTRAINT events_event_id_key UNIQUE (event_id),
        CONSTRAINT events_position_of_transaction
          CHECK (position >> ${POSITION_SHIFT} = transaction_id::text::bigint)
      );
    `,
  },
];

/** An arbitrary key of ours. Advisory locks are per database, so each database migrates alone. */
const MIGRATION_LOCK_KEY = 4_735_117_301_122n;

/**
 * Applies the migrations this database lacks, in one transaction under a transaction-scoped
 * advisory lock: nodes starting together wait for the first one, then find nothing to do.
 * Returns the versions this call applied.
 */
export async function applyMigrations(pool: Pool, migrations: readonly Migration[] = MIGRATIONS): Promise<number[]> {
  return inTransaction(pool, async (client) => {
    await client.query("SELECT pg_advisory_xact_lock($1)", [MIGRATION_LOCK_KEY.toString()]);
    await client.query(`
      CREATE TABLE IF NOT EXISTS schema_migrations (
        version integer PRIMARY KEY,
        name text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`);
    const { rows } = await client.query<{ version: number }>("SELECT version FROM schema_migrations");
    const applied = new Set(rows.map((row) => row.version));
    const pending = migrations.filter((migration) => !applied.has(migration.version));
    for (const migration of pending) {
      await client.query(migration.sql);
      await client.query("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", [migration.version, migration.name]);
    }
    return pending.map((migration) => migration.version);
  });
}

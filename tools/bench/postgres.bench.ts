import { randomUUID } from "node:crypto";
import { Pool } from "pg";
import { NO_STREAM } from "../../adapters/event-store";
import { PostgresEventStore } from "../../adapters/event-store/postgres";
import { createScratchDatabase } from "../../adapters/postgres-databases";

export interface PostgresFigures {
  /** Appends of one 1 KB event each (one transaction), 8 in flight, through our adapter. */
  adapterPerSecond: number;
  /** The same rows, one INSERT each in autocommit, into the adapter's own table. */
  rawPerSecond: number;
  ratio: number;
}

export const BENCH_POSTGRES_URL = process.env.BENCH_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const IN_FLIGHT = 8;
const SECONDS = Number(process.env.BENCH_POSTGRES_S ?? 5);

/** The PostgreSQL adapter's append beside a raw `pg` insert of the same rows, each in a fresh database. */
export async function benchPostgres(): Promise<PostgresFigures> {
  const payload = { orderId: randomUUID(), note: "x".repeat(900) };
  const metadata = { correlationId: randomUUID(), causationId: randomUUID(), occurredAt: new Date().toISOString() };
  const event = () => ({ id: randomUUID(), type: "OrderCreated", data: payload, metadata });

  const adapterPerSecond = await inFreshDatabase(async (url) => {
    const store = new PostgresEventStore(url);
    await store.ping();
    try {
      return await appendsPerSecond((worker, index) => store.append(`order-${worker}-${index}`, [event()], { expectedRevision: NO_STREAM }));
    } finally {
      await store.close();
    }
  });

  const rawPerSecond = await inFreshDatabase(async (url) => {
    // The adapter's own schema, so that both pay for the same indexes and checks.
    const schema = new PostgresEventStore(url);
    await schema.ping();
    await schema.close();
    const pool = new Pool({ connectionString: url, max: IN_FLIGHT });
    // Idle clients are cut when the database is dropped: not an error of the run.
    pool.on("error", () => undefined);
    const insert =
      "INSERT INTO events (position, transaction_id, stream_id, revision, event_id, type, data, metadata) " +
      "VALUES ((pg_current_xact_id()::text::bigint << 16), pg_current_xact_id(), $1, 0, $2, 'OrderCreated', $3, $4)";
    try {
      return await appendsPerSecond((worker, index) =>
        pool.query(insert, [`order-${worker}-${index}`, randomUUID(), JSON.stringify(payload), JSON.stringify(metadata)]),
      );
    } finally {
      await pool.end();
    }
  });
  return { adapterPerSecond, rawPerSecond, ratio: adapterPerSecond / rawPerSecond };
}

async function inFreshDatabase<T>(run: (url: string) => Promise<T>): Promise<T> {
  const database = await createScratchDatabase(BENCH_POSTGRES_URL, "glitchbuster_bench");
  try {
    return await run(database.url);
  } finally {
    await database.drop();
  }
}

async function appendsPerSecond(append: (worker: number, index: number) => Promise<unknown>): Promise<number> {
  let appended = 0;
  const until = Date.now() + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async (_, worker) => {
      for (let index = 0; Date.now() < until; index += 1) {
        await append(worker, index);
        appended += 1;
      }
    }),
  );
  return Math.round(appended / SECONDS);
}

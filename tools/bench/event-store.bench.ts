import Database from "better-sqlite3";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NO_STREAM } from "../../adapters/event-store";
import { SqliteEventStore } from "../../adapters/event-store/sqlite";

export interface EventStoreFigures {
  events: number;
  /** 1 KB events, one per append (each a transaction), through our adapter. */
  adapterPerSecond: number;
  /** The same rows, one INSERT each, straight through better-sqlite3 on the same schema. */
  rawPerSecond: number;
  ratio: number;
}

const COUNT = Number(process.env.BENCH_EVENTS ?? 20_000);

/** The SQLite adapter's append beside a raw insert on the same schema, WAL, synchronous=NORMAL. */
export async function benchEventStore(): Promise<EventStoreFigures> {
  const dir = mkdtempSync(join(tmpdir(), "glitchbuster-bench-es-"));
  const payload = { orderId: randomUUID(), note: "x".repeat(900) };
  const metadata = { correlationId: randomUUID(), causationId: randomUUID(), occurredAt: new Date().toISOString() };
  try {
    const store = new SqliteEventStore(join(dir, "adapter.db"));
    let started = process.hrtime.bigint();
    for (let index = 0; index < COUNT; index += 1) {
      await store.append(`order-${index}`, [{ id: randomUUID(), type: "OrderCreated", data: payload, metadata }], {
        expectedRevision: NO_STREAM,
      });
    }
    const adapterSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    await store.close();

    // The same schema the adapter creates, so that both pay for the same indexes.
    await new SqliteEventStore(join(dir, "raw.db")).close();
    const db = new Database(join(dir, "raw.db"));
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = NORMAL");
    const insert = db.prepare("INSERT INTO events (id, stream, revision, type, data, metadata) VALUES (?, ?, ?, ?, ?, ?)");
    started = process.hrtime.bigint();
    for (let index = 0; index < COUNT; index += 1) {
      insert.run(randomUUID(), `order-${index}`, 0, "OrderCreated", JSON.stringify(payload), JSON.stringify(metadata));
    }
    const rawSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    db.close();

    const adapterPerSecond = Math.round(COUNT / adapterSeconds);
    const rawPerSecond = Math.round(COUNT / rawSeconds);
    return { events: COUNT, adapterPerSecond, rawPerSecond, ratio: adapterPerSecond / rawPerSecond };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

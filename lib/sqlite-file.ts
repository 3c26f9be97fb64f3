import Database from "better-sqlite3";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";

export type SqliteSynchronous = "normal" | "full";

/**
 * A connection to an SQLite file as every store of ours opens it: WAL (readers never block
 * the writer), synchronous NORMAL (survives a process crash) or FULL (power loss too), and a
 * busy timeout so that another process's write makes this one wait, not fail. `schema` runs
 * once (CREATE ... IF NOT EXISTS).
 */
export function openSqlite(path: string, synchronous: SqliteSynchronous = "normal", schema?: string): Database.Database {
  if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  db.pragma(`synchronous = ${synchronous === "full" ? "FULL" : "NORMAL"}`);
  db.pragma("busy_timeout = 5000");
  if (schema) db.exec(schema);
  return db;
}

import Database from "better-sqlite3";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NO_STREAM } from "../../adapters/event-store";
import { SqliteEventStore } from "../../adapters/event-store/sqlite";
import { WAL_CAP_BYTES, checkpointInWorker, openSqlite } from "../../adapters/sqlite-file";
import { waitFor } from "../../tools/wait-for";
import { anEvent, uniqueStream } from "../support/events";

const MiB = 1024 * 1024;
const walSize = (path: string) => (existsSync(`${path}-wal`) ? statSync(`${path}-wal`).size : 0);

describe("SQLite WAL checkpoints in a worker thread", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "glitchbuster-checkpoint-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("keeps the WAL bounded under 20,000 commits with automatic checkpoints off, and stops", async () => {
    const path = join(dir, "burst.db");
    const db = openSqlite(path, "normal", "CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL)");
    const cap = 2 * MiB;
    const checkpointer = checkpointInWorker(db, path, { walCapBytes: cap })!;
    expect(db.pragma("wal_autocheckpoint", { simple: true })).toBe(0);
    const insert = db.prepare("INSERT INTO t (body) VALUES (?)");
    const body = "x".repeat(1000);
    for (let i = 0; i < 20_000; i++) {
      insert.run(body); // one commit each
      if (i % 100 === 0) {
        // Yields now and then, as an app's event loop would: a writer that never lets go of
        // the write lock keeps the TRUNCATE from ever taking it.
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
    // Without the worker, 20,000 commits of a 1 KB row leave a WAL of tens of MiB. Once the
    // worker has caught up, the next commit starts the WAL over and cuts it back to the cap.
    await waitFor(() => insert.run(body) && walSize(path) <= cap, { what: "the WAL back under its cap", timeoutMs: 5000, intervalMs: 60 });
    await checkpointer.stop();
    await checkpointer.stop(); // twice is fine
    db.close();
    // The worker's connection was closed: the last connection to go deletes the WAL.
    expect(existsSync(`${path}-wal`)).toBe(false);
  });

  it("restarts a WAL past its cap, and the next commit cuts the file back to the cap", async () => {
    const path = join(dir, "cap.db");
    const db = openSqlite(path, "normal", "CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL)");
    // One transaction of ~8 MiB: the WAL grows past the cap in one commit, then must be truncated.
    db.transaction(() => {
      const insert = db.prepare("INSERT INTO t (body) VALUES (?)");
      for (let i = 0; i < 8000; i++) insert.run("y".repeat(1000));
    })();
    db.pragma("wal_autocheckpoint = 0");
    expect(walSize(path)).toBeGreaterThan(4 * MiB);
    const checkpointer = checkpointInWorker(db, path, { walCapBytes: 1 * MiB })!;
    const insert = db.prepare("INSERT INTO t (body) VALUES ('after')");
    await waitFor(() => insert.run() && walSize(path) <= 1 * MiB, { what: "a WAL cut back to its cap", timeoutMs: 5000, intervalMs: 60 });
    await checkpointer.stop();
    db.close();
  });

  it("turns automatic checkpoints off on every connection to a file, whose worker lives until the last one stops it", async () => {
    const path = join(dir, "shared.db");
    const events = openSqlite(path, "normal", "CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL)");
    const views = openSqlite(path);
    // The read models' own connection: left with SQLite's default, it would checkpoint the
    // whole WAL inside one of its COMMITs, on the event loop.
    expect(views.pragma("wal_autocheckpoint", { simple: true })).toBe(1000);
    const first = checkpointInWorker(events, path, { walCapBytes: 1 * MiB })!;
    const second = checkpointInWorker(views, join(dir, ".", "shared.db"))!;
    expect(events.pragma("wal_autocheckpoint", { simple: true })).toBe(0);
    expect(views.pragma("wal_autocheckpoint", { simple: true })).toBe(0);

    await first.stop();
    events.close();
    // The worker goes on for the connection left: its commits still find the WAL checkpointed.
    const insert = views.prepare("INSERT INTO t (body) VALUES (?)");
    for (let i = 0; i < 3000; i++) insert.run("w".repeat(1000));
    expect(walSize(path)).toBeGreaterThan(1 * MiB);
    await waitFor(() => insert.run("w") && walSize(path) <= 1 * MiB, { what: "the WAL cut back by the shared worker", timeoutMs: 5000, intervalMs: 60 });

    await second.stop();
    views.close();
    expect(existsSync(`${path}-wal`)).toBe(false);
  });

  it("close() resolves in a process that nothing else keeps alive (the worker is held while it stops)", async () => {
    // The compiled store, as `npm start` and the bench run it: a child whose only work is the close.
    const script = `
      const { SqliteEventStore } = require(${JSON.stringify(join(__dirname, "..", "..", "dist", "adapters", "event-store", "sqlite.js"))});
      const store = new SqliteEventStore(${JSON.stringify(join(dir, "alone.db"))});
      store.append("order-1", [{ id: "e-1", type: "OrderCreated", data: {}, metadata: {} }], { expectedRevision: "no_stream" })
        .then(() => store.close())
        .then(() => console.log("closed"));
    `;
    const { stdout } = await promisify(execFile)(process.execPath, ["-e", script]);
    expect(stdout.trim()).toBe("closed");
  });

  it("starts no worker for :memory:", () => {
    const db = openSqlite(":memory:");
    expect(checkpointInWorker(db, ":memory:")).toBeUndefined();
    db.close();
  });

  it("an event store keeps its WAL under the cap through 20,000 appends, and close() stops the worker", async () => {
    const path = join(dir, "events.db");
    const store = new SqliteEventStore(path);
    let largest = 0;
    for (let i = 0; i < 20_000; i++) {
      await store.append(uniqueStream("order"), [anEvent("OrderCreated", { body: "z".repeat(800) })], { expectedRevision: NO_STREAM });
      if (i % 500 === 0) largest = Math.max(largest, walSize(path));
    }
    // A burst that never pauses keeps the passive checkpoints from ever catching up (with no
    // cap: ~240 MiB after such a burst); the cap's RESTART waits for the writer lock and for the
    // backlog to be copied, so the file overshoots it by what the writer adds meanwhile.
    expect(largest).toBeLessThan(2 * WAL_CAP_BYTES);
    const append = () => store.append(uniqueStream("order"), [anEvent("OrderCreated")], { expectedRevision: NO_STREAM });
    await waitFor(async () => (await append()) && walSize(path) <= WAL_CAP_BYTES, { what: "the WAL back under its cap", timeoutMs: 5000, intervalMs: 60 });
    expect((await store.readAll({ maxCount: 5 })).map((event) => event.position)).toEqual([1n, 2n, 3n, 4n, 5n]);
    await store.close();
    // Had the worker kept its connection, the WAL would outlive the store's.
    expect(existsSync(`${path}-wal`)).toBe(false);
  });

  it("works on a file created with the old schema (AUTOINCREMENT, index on id)", async () => {
    const path = join(dir, "old.db");
    const old = new Database(path);
    old.pragma("journal_mode = WAL");
    old.exec(`
      CREATE TABLE events (
        position INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL, stream TEXT NOT NULL, revision INTEGER NOT NULL,
        type TEXT NOT NULL, data TEXT NOT NULL, metadata TEXT NOT NULL,
        UNIQUE (stream, revision)
      );
      CREATE INDEX events_by_id ON events (id);
      CREATE TABLE leases (name TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_at INTEGER NOT NULL);
    `);
    const insert = old.prepare("INSERT INTO events (id, stream, revision, type, data, metadata) VALUES (?, 'order-old', ?, 'OrderCreated', '{}', '{}')");
    insert.run("a", 0);
    insert.run("b", 1);
    old.close();

    const store = new SqliteEventStore(path);
    const stream = uniqueStream("order");
    const appended = await store.append(stream, [anEvent("OrderCreated")], { expectedRevision: NO_STREAM });
    expect(appended.position).toBe(3n);
    expect((await store.read("order-old")).map((event) => event.id)).toEqual(["a", "b"]);
    expect((await store.readAll()).map((event) => event.position)).toEqual([1n, 2n, 3n]);
    await store.close();

    const check = new Database(path, { readonly: true });
    const sql = (check.prepare("SELECT sql FROM sqlite_master WHERE name = 'events'").get() as { sql: string }).sql;
    expect(sql).toContain("AUTOINCREMENT"); // the table is left as it was
    expect(check.prepare("SELECT name FROM sqlite_master WHERE name = 'events_by_id'").get()).toBeUndefined();
    check.close();
  });

  it("creates new files without AUTOINCREMENT", async () => {
    const path = join(dir, "new.db");
    const store = new SqliteEventStore(path);
    await store.append(uniqueStream("order"), [anEvent("OrderCreated")], { expectedRevision: NO_STREAM });
    await store.close();
    const check = new Database(path, { readonly: true });
    const names = check.prepare("SELECT name FROM sqlite_master").all() as { name: string }[];
    expect(names.map((row) => row.name)).not.toContain("sqlite_sequence");
    check.close();
  });
});

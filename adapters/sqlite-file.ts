import Database from "better-sqlite3";
import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { Worker } from "node:worker_threads";

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

export interface CheckpointOptions {
  /** How often the worker runs a PASSIVE checkpoint. */
  intervalMs?: number;
  /** Past this much WAL in use the worker forces a restart of the WAL (RESTART checkpoint), so that it cannot grow without bound. */
  walCapBytes?: number;
}

export const CHECKPOINT_INTERVAL_MS = 50;
export const WAL_CAP_BYTES = 64 * 1024 * 1024;

/** SQLite's default wal_autocheckpoint (pages), put back if the worker dies. */
const DEFAULT_AUTOCHECKPOINT = 1000;

/**
 * The worker's code, evaluated from a string (not a file next to this one): tsc copies no .js
 * file into dist/ and ts-jest runs the .ts sources, while a string works from both.
 * better-sqlite3 is required by the absolute path resolved here, whatever the worker's cwd.
 *
 * Its own connection to the file (SQLite's locks are per connection, so it checkpoints the
 * same WAL as the writers of this and other processes) runs a PASSIVE checkpoint every
 * interval: copies the committed frames into the database file and syncs it, never waiting
 * for a lock nor blocking a writer; once it has caught up, the next writer starts the WAL
 * over. Writers committing while it copies can keep it from ever catching up (the WAL only
 * grows), hence the cap: past it (frames in use, not file size), a RESTART checkpoint takes
 * the writer lock, waits (up to its short busy timeout) for readers to leave the WAL, and has
 * the next writer start the WAL over; that writer also cuts the file back to the cap
 * (journal_size_limit). A RESTART rather than a TRUNCATE: no ftruncate while writers wait.
 */
const WORKER_CODE = `
const { parentPort, workerData } = require("node:worker_threads");
const Database = require(workerData.driver);
const { path, intervalMs, walCapBytes } = workerData;
const db = new Database(path, { fileMustExist: true });
db.pragma("busy_timeout = 1000");
const frameBytes = db.pragma("page_size", { simple: true }) + 24;
let timer;
const tick = () => {
  try {
    const [{ log }] = db.pragma("wal_checkpoint(PASSIVE)");
    // Right after a passive one, only the frames committed meanwhile are left to copy while
    // the RESTART holds the writer lock (writers wait meanwhile). The writers of the process
    // are asked to hold off meanwhile: committing group after group, they would otherwise
    // keep the lock from it, and the WAL would grow on past the cap.
    if (log * frameBytes > walCapBytes) {
      parentPort.postMessage("restarting");
      try {
        db.pragma("wal_checkpoint(RESTART)");
      } finally {
        parentPort.postMessage("restarted");
      }
    }
  } catch (error) {
    // SQLITE_BUSY and the like: the next tick tries again.
  }
  timer = setTimeout(tick, intervalMs);
};
timer = setTimeout(tick, intervalMs);
parentPort.on("message", (message) => {
  if (message !== "stop") return;
  clearTimeout(timer);
  db.close();
  parentPort.close();
});
`;

/** The worker thread that checkpoints a file's WAL, started by {@link checkpointInWorker}. */
export interface Checkpointer {
  /**
   * Whether a writer of this process should hold its next commit back (for RESTART_HOLD_MS at
   * most): the worker is restarting a WAL past its cap and needs the writer lock.
   */
  readonly restarting: boolean;
  /** Stops the worker (after the checkpoint it may be running) and closes its connection, once its last user stopped it. */
  stop(): Promise<void>;
}

/** The worker of a file, shared by every connection of this process to the file. */
interface SharedWorker {
  worker: Worker;
  exited: Promise<void>;
  connections: Set<Database.Database>;
  walCapBytes: number;
  /** Since when (performance.now()) the worker has asked for the writer lock, if it has. */
  restartingSince: number | undefined;
}

/** Past this, writers go on even if the worker has not said it restarted (it may have died). */
export const RESTART_HOLD_MS = 1000;

const workersByFile = new Map<string, SharedWorker>();

/**
 * Moves the WAL checkpoints of `db` off the event loop: SQLite's automatic checkpoint runs
 * inside the COMMIT that crosses its threshold (~1,000 pages), on the caller's thread, with
 * two fsyncs: the 10-30 ms stalls of DESIGN.md §7. Here automatic checkpoints are turned off
 * on this connection and a worker thread checkpoints instead. Nothing to do for `:memory:`.
 *
 * Every connection of the process to a file must come here: automatic checkpoints are a
 * setting of each connection, and one left on (the read models' connection to the event
 * store's file) checkpoints the whole WAL inside its own COMMIT. The connections to one file
 * share one worker (the first one's options hold for all), which stops with the last of them. The
 * worker is unref'd (never keeps the process alive by itself); if it dies, automatic
 * checkpoints are turned back on.
 */
export function checkpointInWorker(db: Database.Database, path: string, options: CheckpointOptions = {}): Checkpointer | undefined {
  if (path === ":memory:" || path === "") return undefined;
  const file = resolve(path);
  let shared = workersByFile.get(file);
  if (!shared) {
    const walCapBytes = options.walCapBytes ?? WAL_CAP_BYTES;
    const worker = new Worker(WORKER_CODE, {
      eval: true,
      workerData: { driver: require.resolve("better-sqlite3"), path: file, intervalMs: options.intervalMs ?? CHECKPOINT_INTERVAL_MS, walCapBytes },
    });
    worker.unref();
    const connections = new Set<Database.Database>();
    const entry: SharedWorker = {
      worker,
      connections,
      walCapBytes,
      restartingSince: undefined,
      exited: new Promise<void>((done) => worker.once("exit", () => done())),
    };
    worker.on("message", (message) => {
      entry.restartingSince = message === "restarting" ? performance.now() : undefined;
    });
    worker.on("error", () => {
      if (workersByFile.get(file) === entry) workersByFile.delete(file);
      for (const connection of connections) if (connection.open) connection.pragma(`wal_autocheckpoint = ${DEFAULT_AUTOCHECKPOINT}`);
    });
    workersByFile.set(file, entry);
    shared = entry;
  }
  const { worker, connections, exited } = shared;
  db.pragma("wal_autocheckpoint = 0");
  // The writer that starts the WAL over cuts the file back to the worker's cap.
  db.pragma(`journal_size_limit = ${shared.walCapBytes}`);
  connections.add(db);
  let stopping: Promise<void> | undefined;
  const entry = shared;
  return {
    get restarting() {
      return entry.restartingSince !== undefined && performance.now() - entry.restartingSince < RESTART_HOLD_MS;
    },
    stop() {
      if (!stopping) {
        connections.delete(db);
        if (connections.size === 0) {
          if (workersByFile.get(file) === shared) workersByFile.delete(file);
          // Held while it stops: an unref'd worker awaited by nothing else let the process
          // exit (code 0) in the middle of the caller's close(), before what came after it.
          worker.ref();
          worker.postMessage("stop");
          stopping = exited;
        } else stopping = Promise.resolve();
      }
      return stopping;
    },
  };
}

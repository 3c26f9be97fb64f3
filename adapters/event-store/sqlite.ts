import Database from "better-sqlite3";
import { randomUUID } from "node:crypto";
import { FSWatcher, watch } from "node:fs";
import { Checkpointer, checkpointInWorker, openSqlite } from "../sqlite-file";
import { AppendSignal } from "./append-signal";
import { KeptLease } from "./lease";
import {
  ANY,
  AppendListener,
  AppendOptions,
  AppendResult,
  EventData,
  EventStore,
  Lease,
  NO_STREAM,
  ReadAllOptions,
  ReadOptions,
  RecordedEvent,
  STREAM_EXISTS,
  StreamNotFound,
  WrongExpectedRevision,
  acceptsRevision,
  isSystemStream,
} from "./port";
import { findRetriedAppend } from "./reading";
import { RecentEvents, WrittenEvent, readWritten } from "./recent-events";

export type SqliteSynchronous = "normal" | "full";

export interface SqliteEventStoreOptions {
  /**
   * WAL with synchronous=NORMAL loses nothing when the process crashes, only the last
   * transactions on power loss, and appends ~4x faster than FULL (DESIGN.md §7).
   */
  synchronous?: SqliteSynchronous;
}

interface PendingAppend {
  stream: string;
  events: readonly EventData[];
  options: AppendOptions;
  resolve(result: AppendResult): void;
  reject(error: unknown): void;
}

/** An append's answer and the events it wrote, or why it was refused. */
type Outcome = { result: AppendResult; recorded: WrittenEvent[] } | { error: unknown };

interface EventRow {
  position: number;
  id: string;
  stream: string;
  revision: number;
  type: string;
  data: string;
  metadata: string;
}

/**
 * Pages written per append: the row (the table is ordered by position, so appends fill its
 * last page) and the (stream, revision) index, which every query of a stream uses, the
 * writtenFrom lookup by event id included (it names the stream). A plain INTEGER PRIMARY KEY
 * is the row id: one more than the largest, so positions keep growing since no event is ever
 * deleted (AUTOINCREMENT only adds a write to sqlite_sequence per insert, to never reuse the
 * ids of deleted rows). Files created before (AUTOINCREMENT, and an index on id nothing reads)
 * keep their table, which works the same; their index on id is dropped: one random page less
 * per append.
 */
const SCHEMA = `
  CREATE TABLE IF NOT EXISTS events (
    position INTEGER PRIMARY KEY,
    id TEXT NOT NULL,
    stream TEXT NOT NULL,
    revision INTEGER NOT NULL,
    type TEXT NOT NULL,
    data TEXT NOT NULL,
    metadata TEXT NOT NULL,
    UNIQUE (stream, revision)
  );
  DROP INDEX IF EXISTS events_by_id;
  -- One holder per name across the processes sharing the file (one relay publishing): the
  -- holder renews expires_at (ms since the epoch); another takes the row once it has passed.
  CREATE TABLE IF NOT EXISTS leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at INTEGER NOT NULL
  );
`;

/**
 * After a write to the log by another process, a second wake this long after the first one:
 * the file watcher can fire between the writer's write() of its frames and its update of the
 * WAL index, before a reader can see the commit (rare, but then the reader would wait for its
 * fallback poll).
 */
const TRAILING_WAKE_MS = 5;
/** How often a group held back for the checkpoint worker's RESTART looks again. */
const RESTART_RETRY_MS = 2;

/**
 * One file, one table, the row id as global position. Every append runs in an IMMEDIATE
 * transaction, so that several processes sharing the file (the local cluster) serialise their
 * revision checks instead of racing them.
 */
export class SqliteEventStore implements EventStore {
  private readonly db: Database.Database;
  private readonly checkpointer: Checkpointer | undefined;
  private readonly statements;
  private readonly recent = new RecentEvents();
  private readonly groupTransaction;
  private readonly pending: PendingAppend[] = [];
  private readonly appended = new AppendSignal();
  private readonly leases = new Set<KeptLease>();
  private watcher: FSWatcher | undefined;
  private wakeScheduled = false;
  private trailingWake: NodeJS.Timeout | undefined;
  private seenDataVersion: number | undefined;

  constructor(
    private readonly path: string,
    options: SqliteEventStoreOptions = {},
  ) {
    this.db = openSqlite(path, options.synchronous, SCHEMA);
    // The WAL checkpoints run in a worker thread, not inside a COMMIT on the event loop.
    this.checkpointer = checkpointInWorker(this.db, path);
    this.statements = {
      lastRevision: this.db.prepare<[string], { revision: number }>("SELECT revision FROM events WHERE stream = ? ORDER BY revision DESC LIMIT 1"),
      writtenFrom: this.db.prepare<[string, string, string, number], EventRow>(
        `SELECT * FROM events WHERE stream = ?
           AND revision >= (SELECT revision FROM events WHERE stream = ? AND id = ?)
         ORDER BY revision LIMIT ?`,
      ),
      insert: this.db.prepare<[string, string, number, string, string, string]>(
        "INSERT INTO events (id, stream, revision, type, data, metadata) VALUES (?, ?, ?, ?, ?, ?)",
      ),
      forwards: this.db.prepare<[string, number, number], EventRow>("SELECT * FROM events WHERE stream = ? AND revision >= ? ORDER BY revision LIMIT ?"),
      backwards: this.db.prepare<[string, number, number], EventRow>("SELECT * FROM events WHERE stream = ? AND revision <= ? ORDER BY revision DESC LIMIT ?"),
      exists: this.db.prepare<[string], { revision: number }>("SELECT revision FROM events WHERE stream = ? LIMIT 1"),
      // System streams ($-prefixed: checkpoints) stay out of the global log, as in EventStoreDB.
      all: this.db.prepare<[number, number], EventRow>("SELECT * FROM events WHERE position > ? AND stream NOT LIKE '$%' ORDER BY position LIMIT ?"),
      ping: this.db.prepare("SELECT 1"),
      // Changes when another connection commits to the file (another process, or this one's read models).
      dataVersion: this.db.prepare<[], number>("PRAGMA data_version").pluck(),
      leaseHolder: this.db.prepare<[string], { holder: string; expires_at: number }>("SELECT holder, expires_at FROM leases WHERE name = ?"),
      takeLease: this.db.prepare<[string, string, number, number]>(
        `INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?)
         ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
         WHERE leases.expires_at <= ?`,
      ),
      renewLease: this.db.prepare<[number, string, string]>("UPDATE leases SET expires_at = ? WHERE name = ? AND holder = ?"),
      dropLease: this.db.prepare<[string, string]>("DELETE FROM leases WHERE name = ? AND holder = ?"),
    };
    this.groupTransaction = this.db.transaction((group: readonly PendingAppend[]) =>
      group.map(({ stream, events, options }) => this.appendInGroup(stream, events, options)),
    );
  }

  /**
   * One append inside the group's transaction. It writes nothing until it has passed every
   * check and serialised every event, so an append refused leaves nothing behind and needs no
   * savepoint of its own. Anything that fails once it inserts (SQLite itself) fails the group.
   */
  private appendInGroup(stream: string, events: readonly EventData[], options: AppendOptions): Outcome {
    let checked: { rows: { event: EventData; data: string; metadata: string }[]; last: number };
    try {
      const known = this.checkAppend(stream, events, options);
      if ("result" in known) return { ...known, recorded: [] };
      checked = known;
    } catch (error) {
      return { error };
    }
    let revision = checked.last;
    let position = 0n;
    const recorded: WrittenEvent[] = [];
    for (const { event, data, metadata } of checked.rows) {
      revision += 1;
      position = BigInt(this.statements.insert.run(event.id, stream, revision, event.type, data, metadata).lastInsertRowid);
      // As stored: readers parse their copy, which shares nothing with the caller's.
      recorded.push({ position, id: event.id, stream, revision, type: event.type, data, metadata });
    }
    return { result: { nextExpectedRevision: revision, position }, recorded };
  }

  /** The revision check, and the rows to insert; or the answer of an append already written. */
  private checkAppend(
    stream: string,
    events: readonly EventData[],
    options: AppendOptions,
  ): { result: AppendResult } | { rows: { event: EventData; data: string; metadata: string }[]; last: number } {
    const { expectedRevision } = options;
    const last = this.statements.lastRevision.get(stream);
    const actual = last ? last.revision : NO_STREAM;
    // A retried append is looked for only where it can hide: behind a refused revision,
    // or behind "any"/"stream exists", which accept whatever the stream holds. The common
    // append at the expected revision costs one lookup and the inserts.
    const mayBeRetry = !acceptsRevision(expectedRevision, actual) || expectedRevision === ANY || expectedRevision === STREAM_EXISTS;
    const first = events[0];
    if (mayBeRetry && first) {
      const written = this.statements.writtenFrom.all(stream, stream, first.id, events.length).map(toRecorded);
      const retried = findRetriedAppend(written, events, expectedRevision);
      if (retried) return { result: retried };
    }
    if (!acceptsRevision(expectedRevision, actual)) throw new WrongExpectedRevision(stream, expectedRevision, actual);
    for (const event of events) {
      if (typeof event.id !== "string" || typeof event.type !== "string") throw new TypeError(`an event of ${stream} has no string id or type`);
    }
    const rows = events.map((event) => ({ event, data: JSON.stringify(event.data), metadata: JSON.stringify(event.metadata) }));
    return { rows, last: last ? last.revision : -1 };
  }

  /**
   * Group commit: the appends asked for within one turn of the event loop are written in one
   * IMMEDIATE transaction, each still all-or-nothing and checked against its own expected
   * revision, while the commit, the dominant cost, is paid once per group.
   */
  append(stream: string, events: readonly EventData[], options: AppendOptions): Promise<AppendResult> {
    return new Promise((resolve, reject) => {
      this.pending.push({ stream, events, options, resolve, reject });
      if (this.pending.length === 1) setImmediate(() => this.commitPending());
    });
  }

  private commitPending(holdForRestart = true): void {
    // The checkpoint worker needs the writer lock to bring the WAL back under its cap: the
    // group waits (and grows) meanwhile, as it would wait on the lock itself.
    if (holdForRestart && this.checkpointer?.restarting) {
      setTimeout(() => this.commitPending(), RESTART_RETRY_MS);
      return;
    }
    const group = this.pending.splice(0);
    let outcomes: Outcome[];
    try {
      outcomes = this.groupTransaction.immediate(group);
    } catch (error) {
      // The group could not be written at all (the file is locked past busy_timeout, closed...).
      for (const append of group) append.reject(error);
      return;
    }
    let last: bigint | undefined;
    group.forEach((append, index) => {
      const outcome = outcomes[index]!;
      if ("result" in outcome) {
        this.recent.add(outcome.recorded);
        if (!isSystemStream(append.stream) && append.events.length > 0 && (last === undefined || outcome.result.position > last)) {
          last = outcome.result.position;
        }
        append.resolve(outcome.result);
      } else append.reject(outcome.error);
    });
    if (last !== undefined) this.appended.emit(last);
  }

  async read(stream: string, options: ReadOptions = {}): Promise<RecordedEvent[]> {
    const limit = options.maxCount ?? -1;
    const rows =
      options.direction === "backwards"
        ? this.statements.backwards.all(stream, options.fromRevision ?? Number.MAX_SAFE_INTEGER, limit)
        : this.statements.forwards.all(stream, options.fromRevision ?? 0, limit);
    if (rows.length === 0 && !this.statements.exists.get(stream)) throw new StreamNotFound(stream);
    return rows.map(toRecorded);
  }

  async readAll(options: ReadAllOptions = {}): Promise<RecordedEvent[]> {
    const after = options.after ?? 0n;
    const maxCount = options.maxCount ?? 1000;
    const recent = this.recent.after(after, maxCount);
    if (!recent) return this.statements.all.all(Number(after), maxCount).map(toRecorded);
    if (recent.events.length === maxCount) return recent.events;
    return [...recent.events, ...this.statements.all.all(Number(recent.end), maxCount - recent.events.length).map(toRecorded)];
  }

  /**
   * Appends of this process are signalled after their commit; those of other processes sharing
   * the file (the local cluster) when its write-ahead log changes (inotify through fs.watch):
   * any write wakes the reader, which finds out by reading.
   */
  onAppended(listener: AppendListener): () => void {
    const unsubscribe = this.appended.subscribe(listener);
    this.watchLog();
    return () => {
      unsubscribe();
      if (!this.appended.listening) this.unwatchLog();
    };
  }

  private watchLog(): void {
    if (this.watcher || this.path === ":memory:" || !this.db.open) return;
    try {
      // The WAL file lives as long as a connection is open, this one included.
      this.watcher = watch(`${this.path}-wal`, { persistent: false }, () => this.logChanged());
      // Gone (the file replaced), the readers are left with their fallback poll.
      this.watcher.on("error", () => this.unwatchLog());
    } catch {
      this.watcher = undefined;
    }
  }

  private unwatchLog(): void {
    this.watcher?.close();
    this.watcher = undefined;
    clearTimeout(this.trailingWake);
    this.trailingWake = undefined;
  }

  /**
   * One wake per turn of the event loop however many writes it saw, and a trailing one; only
   * when another connection committed since the last look (PRAGMA data_version): the watcher
   * also sees this connection's own commits, which woke the readers already, and every reader
   * woken for nothing reads the file to find nothing.
   */
  private logChanged(): void {
    if (!this.wakeScheduled) {
      this.wakeScheduled = true;
      setImmediate(() => {
        this.wakeScheduled = false;
        this.wakeIfOthersCommitted();
      });
    }
    // At most one pending: a timer set again for every write cost more than the wakes it saved.
    this.trailingWake ??= setTimeout(() => {
      this.trailingWake = undefined;
      this.wakeIfOthersCommitted();
    }, TRAILING_WAKE_MS).unref();
  }

  private wakeIfOthersCommitted(): void {
    if (!this.db.open) return;
    const version = this.statements.dataVersion.get();
    if (version === this.seenDataVersion) return;
    this.seenDataVersion = version;
    this.appended.emit(undefined);
  }

  /**
   * A row of the leases table, taken when free or expired and renewed by its holder. The
   * expiry is wall-clock time, compared by the processes of one host that share the file.
   */
  async tryAcquireLease(name: string, ttlMs: number): Promise<Lease | undefined> {
    const now = Date.now();
    const current = this.statements.leaseHolder.get(name);
    // Read first: a contender trying every few hundred ms takes the write lock only when it may win.
    if (current && current.expires_at > now) return undefined;
    // Says which process holds it (pid, as the local cluster's nodes share a host), and which take.
    const holder = `${process.pid}:${randomUUID()}`;
    const heldSince = performance.now();
    if (this.statements.takeLease.run(name, holder, now + ttlMs, now).changes === 0) return undefined;
    const lease: KeptLease = new KeptLease(
      ttlMs,
      {
        renew: async () => this.db.open && this.statements.renewLease.run(Date.now() + ttlMs, name, holder).changes === 1,
        relinquish: async () => {
          this.leases.delete(lease);
          if (this.db.open) this.statements.dropLease.run(name, holder);
        },
      },
      heldSince,
    );
    this.leases.add(lease);
    return lease;
  }

  async ping(): Promise<void> {
    this.statements.ping.get();
  }

  /**
   * Gives up the leases held here, so that another process takes them at once, and stops the
   * checkpoint worker before closing the connection (the last one to the file checkpoints it).
   */
  async close(): Promise<void> {
    if (this.pending.length > 0) this.commitPending(false);
    this.unwatchLog();
    await Promise.all([...this.leases].map((lease) => lease.release().catch(() => undefined)));
    await this.checkpointer?.stop();
    if (this.db.open) this.db.close();
  }
}

function toRecorded(row: EventRow): RecordedEvent {
  return readWritten({ ...row, position: BigInt(row.position) });
}

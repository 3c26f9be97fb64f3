import { DatabaseError, Pool } from "pg";
import { AppendSignal } from "./append-signal";
import {
  ANY,
  AppendListener,
  AppendOptions,
  AppendResult,
  EventData,
  EventMetadata,
  EventStore,
  ExpectedRevision,
  JsonObject,
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
import { PostgresLeases } from "./postgres-lease";
import { PostgresNotifier } from "./postgres-notifier";
import { POSITIONS_PER_TRANSACTION, POSITION_SHIFT, applyMigrations } from "./postgres-schema";
import { findRetriedAppend } from "./reading";

export interface PostgresEventStoreOptions {
  /** Connections in the pool (pg's default: 10). */
  maxConnections?: number;
}

/** An event id already written somewhere else than where this append would put it. */
export class DuplicateEventId extends Error {
  override readonly name = "DuplicateEventId";
  constructor(
    readonly stream: string,
    detail: string,
  ) {
    super(`stream ${stream}: an event id of this append is already written elsewhere (${detail})`);
  }
}

type EventRow = {
  position: string;
  stream_id: string;
  revision: number;
  event_id: string;
  type: string;
  data: JsonObject;
  metadata: EventMetadata;
};

const COLUMNS = "position, stream_id, revision, event_id, type, data, metadata";

/**
 * One statement, so one transaction and one round trip: the revision check and the inserts
 * of every event of the append. A refused check inserts no row; two appends that computed
 * the same revision meet on UNIQUE (stream_id, revision) and the second fails.
 */
const APPEND = `
  WITH head AS (
    SELECT max(revision) AS revision FROM events WHERE stream_id = $1
  ), accepted AS (
    SELECT coalesce(head.revision, -1) AS revision FROM head
    WHERE CASE $2::text
      WHEN '${ANY}' THEN true
      WHEN '${NO_STREAM}' THEN head.revision IS NULL
      WHEN '${STREAM_EXISTS}' THEN head.revision IS NOT NULL
      ELSE head.revision = $3::integer
    END
  )
  INSERT INTO events (position, transaction_id, stream_id, revision, event_id, type, data, metadata)
  SELECT (pg_current_xact_id()::text::bigint << ${POSITION_SHIFT}) + e.ordinal - 1, pg_current_xact_id(),
         $1, accepted.revision + e.ordinal, e.event_id, e.type, e.data, e.metadata
  FROM accepted,
       unnest($4::uuid[], $5::text[], $6::jsonb[], $7::jsonb[]) WITH ORDINALITY AS e(event_id, type, data, metadata, ordinal)
  RETURNING position, revision`;

const HEAD = "SELECT revision, position FROM events WHERE stream_id = $1 ORDER BY revision DESC LIMIT 1";

const WRITTEN_FROM = `
  SELECT ${COLUMNS} FROM events
  WHERE stream_id = $1 AND revision >= (SELECT revision FROM events WHERE event_id = $2 AND stream_id = $1)
  ORDER BY revision LIMIT $3`;

const READ_FORWARDS = `SELECT ${COLUMNS} FROM events WHERE stream_id = $1 AND revision >= $2::bigint ORDER BY revision LIMIT $3`;
const READ_BACKWARDS = `SELECT ${COLUMNS} FROM events WHERE stream_id = $1 AND revision <= $2::bigint ORDER BY revision DESC LIMIT $3`;

/**
 * Only events of transactions older than every transaction still running, in position order;
 * `position < xmin << 16` is `transaction_id < xmin`, said so that the primary key bounds the
 * scan. System streams ($-prefixed: checkpoints) stay out, as in EventStoreDB.
 */
const READ_ALL = `
  SELECT ${COLUMNS} FROM events
  WHERE position > $1::bigint
    AND position < (pg_snapshot_xmin(pg_current_snapshot())::text::bigint << ${POSITION_SHIFT})
    AND stream_id NOT LIKE '$%'
  ORDER BY position LIMIT $2`;

/**
 * The store for a cluster: PostgreSQL through a `pg` pool (DESIGN.md §3).
 *
 * A global log that no reader can skip. A position drawn from a sequence at insert is not the
 * order in which appends become visible: a slow transaction commits position 7 after a reader
 * has passed 8, and the reader never comes back for it. Emmett's and Marten's cure is to read
 * only rows of transactions older than the oldest one still running
 * (`pg_snapshot_xmin(pg_current_snapshot())`, an `xid8` stored per row). With sequence
 * positions that is not enough: two concurrent appends of several events interleave their
 * sequence values, and a transaction that got its id first can draw its position last, so a
 * position above the reader's still gets filled by a transaction that was running when it read
 * (postgres-adapter.int.spec.ts catches both). Here the position is made of the transaction id:
 * `(xid << 16) + index in the append`. Every transaction a reader cannot see yet, running or
 * still to come, has an id >= that xmin, hence every position above those it was given. No
 * lock and no sequence: appends commit concurrently. (A transaction-scoped advisory lock would
 * serialise every commit: 1.1-1.7k one-row inserts/s against 3.5-9.2k/s without it, 8 in
 * flight, on this 2-core machine.)
 * Costs:
 * - positions are sparse and large (about xid x 65,536, like EventStoreDB's commit positions),
 *   and fit a bigint while the server's transaction ids stay below 2^47 (445 years at 10k
 *   write transactions/s);
 * - an append holds at most 65,536 events, and each append is its own transaction;
 * - readAll shows an event once every transaction that got its id before it, on the whole
 *   server (xmin is cluster-wide), has ended: a long one anywhere (an idle-in-transaction
 *   session, a long migration) holds the global log back, never the stream reads nor appends;
 * - the server's transaction counter must never go back: a dump restored into another cluster
 *   would hand out smaller positions, so the store refuses to start on one (checked at start).
 *
 * A re-append of written ids (a retry after a lost answer) is found after the fact: the
 * revision check refuses it ("no stream", exact) or UNIQUE (event_id) stops it ("any",
 * "stream exists"), and the events written from its first id are compared with it, as in
 * sqlite.ts. The common append pays nothing for it.
 *
 * Readers are woken by LISTEN/NOTIFY (see postgres-notifier.ts) and one relay publishes at a
 * time by a session advisory lock (see postgres-lease.ts), each on a connection of its own.
 */
export class PostgresEventStore implements EventStore {
  private readonly pool: Pool;
  private readonly appended = new AppendSignal();
  private readonly notifier: PostgresNotifier;
  private readonly leases: PostgresLeases;
  private ready: Promise<void> | undefined;
  private closing: Promise<void> | undefined;

  /** url: postgres://... or postgresql://..., passed to pg unchanged. */
  constructor(url: string, options: PostgresEventStoreOptions = {}) {
    this.pool = new Pool({ connectionString: url, max: options.maxConnections, application_name: "glitchbuster" });
    // An idle connection that the server closes (restart, failover) is reported here; the next
    // query opens another and reports any failure to its caller.
    this.pool.on("error", () => undefined);
    this.notifier = new PostgresNotifier(url, (position) => this.appended.emit(position));
    this.leases = new PostgresLeases(url);
    // Migrate now, so that nodes starting together meet on the migration lock at start. A
    // failure is reported to the first caller, and the next one tries again.
    this.schema().catch(() => undefined);
  }

  async append(stream: string, events: readonly EventData[], options: AppendOptions): Promise<AppendResult> {
    await this.schema();
    const { expectedRevision } = options;
    const first = events[0];
    if (!first) return this.appendNothing(stream, expectedRevision);
    if (events.length > POSITIONS_PER_TRANSACTION) {
      throw new RangeError(`stream ${stream}: at most ${POSITIONS_PER_TRANSACTION} events per append, not ${events.length}`);
    }
    const values = [
      stream,
      typeof expectedRevision === "number" ? "revision" : expectedRevision,
      typeof expectedRevision === "number" ? expectedRevision : null,
      events.map((event) => event.id),
      events.map((event) => event.type),
      events.map((event) => JSON.stringify(event.data)),
      events.map((event) => JSON.stringify(event.metadata)),
    ];
    // Loops only when a concurrent append took the revision that an "any" or "stream exists"
    // append had computed: each turn means another append went through.
    for (;;) {
      let duplicate: DatabaseError | undefined;
      try {
        const { rows } = await this.pool.query<{ position: string; revision: number }>({
          name: "glitchbuster-append",
          text: APPEND,
          values,
        });
        if (rows.length > 0) return this.signal(stream, appended(rows));
      } catch (error) {
        if (!isUniqueViolation(error)) throw error;
        if (error.constraint === "events_event_id_key") duplicate = error;
      }
      const settled = await this.settle(stream, first.id, events, expectedRevision, duplicate);
      if (settled) return settled;
    }
  }

  /** Wakes the readers of this process at once, and those of the others by NOTIFY. */
  private signal(stream: string, result: AppendResult): AppendResult {
    if (!isSystemStream(stream)) {
      this.appended.emit(result.position);
      this.notifier.notify(result.position);
    }
    return result;
  }

  /** After a refused or failed append: the first answer to a retry, a conflict, or undefined (try again). */
  private async settle(
    stream: string,
    firstId: string,
    events: readonly EventData[],
    expectedRevision: ExpectedRevision,
    duplicate: DatabaseError | undefined,
  ): Promise<AppendResult | undefined> {
    const written = await this.pool.query<EventRow>({
      name: "glitchbuster-written-from",
      text: WRITTEN_FROM,
      values: [stream, firstId, events.length],
    });
    // PostgreSQL hands uuids back in lower case.
    const asStored = events.map((event) => ({ ...event, id: event.id.toLowerCase() }));
    const retried = findRetriedAppend(written.rows.map(toRecorded), asStored, expectedRevision);
    if (retried) return retried;
    const head = await this.head(stream);
    const actual = head ? head.revision : NO_STREAM;
    if (!acceptsRevision(expectedRevision, actual)) throw new WrongExpectedRevision(stream, expectedRevision, actual);
    if (duplicate) throw new DuplicateEventId(stream, duplicate.detail ?? duplicate.message);
    return undefined;
  }

  private async appendNothing(stream: string, expectedRevision: ExpectedRevision): Promise<AppendResult> {
    const head = await this.head(stream);
    const actual = head ? head.revision : NO_STREAM;
    if (!acceptsRevision(expectedRevision, actual)) throw new WrongExpectedRevision(stream, expectedRevision, actual);
    return { nextExpectedRevision: head ? head.revision : -1, position: head ? BigInt(head.position) : 0n };
  }

  private async head(stream: string): Promise<{ revision: number; position: string } | undefined> {
    const { rows } = await this.pool.query<{ revision: number; position: string }>({
      name: "glitchbuster-head",
      text: HEAD,
      values: [stream],
    });
    return rows[0];
  }

  async read(stream: string, options: ReadOptions = {}): Promise<RecordedEvent[]> {
    await this.schema();
    const backwards = options.direction === "backwards";
    const { rows } = await this.pool.query<EventRow>({
      name: backwards ? "glitchbuster-read-backwards" : "glitchbuster-read-forwards",
      text: backwards ? READ_BACKWARDS : READ_FORWARDS,
      values: [stream, options.fromRevision ?? (backwards ? Number.MAX_SAFE_INTEGER : 0), options.maxCount ?? null],
    });
    if (rows.length === 0 && !(await this.head(stream))) throw new StreamNotFound(stream);
    return rows.map(toRecorded);
  }

  async readAll(options: ReadAllOptions = {}): Promise<RecordedEvent[]> {
    await this.schema();
    const { rows } = await this.pool.query<EventRow>({
      name: "glitchbuster-read-all",
      text: READ_ALL,
      values: [(options.after ?? 0n).toString(), options.maxCount ?? 1000],
    });
    return rows.map(toRecorded);
  }

  /**
   * Appends of this process at once; those of the others by LISTEN on a dedicated connection,
   * opened with the first listener. The position they carry may still be hidden from readAll
   * by an older transaction in flight: the reader looks again soon.
   */
  onAppended(listener: AppendListener): () => void {
    const unsubscribe = this.appended.subscribe(listener);
    this.notifier.listen();
    let subscribed = true;
    return () => {
      if (!subscribed) return;
      subscribed = false;
      unsubscribe();
      this.notifier.unlisten();
    };
  }

  tryAcquireLease(name: string, ttlMs: number): Promise<Lease | undefined> {
    return this.leases.tryAcquire(name, ttlMs);
  }

  async ping(): Promise<void> {
    await this.schema();
    await this.pool.query("SELECT 1");
  }

  /** Gives up the leases held here, so that another process takes them at once. */
  close(): Promise<void> {
    this.closing ??= Promise.all([this.leases.close(), this.notifier.close()]).then(() => this.pool.end());
    return this.closing;
  }

  private schema(): Promise<void> {
    this.ready ??= this.start().catch((error: unknown) => {
      this.ready = undefined;
      throw error;
    });
    return this.ready;
  }

  private async start(): Promise<void> {
    await applyMigrations(this.pool);
    const { rows } = await this.pool.query<{ last: string | null; next: string }>(
      `SELECT (SELECT max(position) FROM events) >> ${POSITION_SHIFT} AS last,
              pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS next`,
    );
    const { last, next } = rows[0]!;
    if (last !== null && BigInt(last) >= BigInt(next)) {
      throw new Error(
        `events were written by transaction ${last} but this server's next transaction is ${next}: ` +
          "the database comes from another cluster, and new positions would fall below old ones",
      );
    }
  }
}

function appended(rows: readonly { position: string; revision: number }[]): AppendResult {
  let last = rows[0]!;
  for (const row of rows) if (row.revision > last.revision) last = row;
  return { nextExpectedRevision: last.revision, position: BigInt(last.position) };
}

function isUniqueViolation(error: unknown): error is DatabaseError {
  return error instanceof DatabaseError && error.code === "23505";
}

function toRecorded(row: EventRow): RecordedEvent {
  return {
    id: row.event_id,
    type: row.type,
    data: row.data,
    metadata: row.metadata,
    stream: row.stream_id,
    revision: row.revision,
    position: BigInt(row.position),
  };
}

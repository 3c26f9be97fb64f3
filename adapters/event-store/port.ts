/**
 * The EventStore port. Semantics follow EventStoreDB so that the embedded stores (memory,
 * SQLite) and the production one (EventStoreDB) are interchangeable:
 * - stream revisions count from 0; the revision of an empty/missing stream is "none";
 * - every append names the revision it expects and fails with WrongExpectedRevision otherwise;
 * - the global log orders every event of every stream by a position that only grows.
 */

export const NO_STREAM = "no_stream" as const;
export const STREAM_EXISTS = "stream_exists" as const;
export const ANY = "any" as const;

/** What the stream must look like for an append to be accepted. */
export type ExpectedRevision = typeof NO_STREAM | typeof STREAM_EXISTS | typeof ANY | number;

export interface EventMetadata {
  correlationId: string;
  causationId: string;
  /** ISO-8601 time at which the fact happened, given by the caller (never the store's clock). */
  occurredAt: string;
  /** Adapters store and return any further keys unchanged. */
  [key: string]: unknown;
}

export type JsonObject = { [key: string]: unknown };

/** An event as a caller hands it to the store. */
export interface EventData<Type extends string = string, Data extends JsonObject = JsonObject> {
  /** UUID chosen by the caller, so that an append retried after a timeout is recognisable. */
  id: string;
  type: Type;
  data: Data;
  metadata: EventMetadata;
}

/** An event as the store hands it back. */
export interface RecordedEvent<Type extends string = string, Data extends JsonObject = JsonObject>
  extends EventData<Type, Data> {
  stream: string;
  /** 0-based position of the event in its stream. */
  revision: number;
  /** Position in the global log; strictly increasing in append order across all streams. */
  position: bigint;
}

export interface AppendOptions {
  expectedRevision: ExpectedRevision;
}

export interface AppendResult {
  /** Revision of the last event written: the expected revision of the next append. */
  nextExpectedRevision: number;
  /** Global position of the last event written. */
  position: bigint;
}

export type Direction = "forwards" | "backwards";

export interface ReadOptions {
  /** First revision to read (inclusive). Defaults to the start (forwards) or the end (backwards). */
  fromRevision?: number;
  direction?: Direction;
  /** At most this many events; defaults to all. */
  maxCount?: number;
}

export interface ReadAllOptions {
  /** Read events whose position is strictly greater than this; defaults to the beginning. */
  after?: bigint;
  /** At most this many events; defaults to 1000. */
  maxCount?: number;
}

export interface EventStore {
  /**
   * Appends events atomically. All or none are written.
   * Appending the same event ids again with the same expected revision (a retry after a lost
   * answer) writes nothing and answers as the first append did.
   * @throws WrongExpectedRevision when the stream is not at the expected revision.
   */
  append(stream: string, events: readonly EventData[], options: AppendOptions): Promise<AppendResult>;

  /** @throws StreamNotFound when the stream has no event. */
  read(stream: string, options?: ReadOptions): Promise<RecordedEvent[]>;

  /** Events of every stream in global order, system streams excluded. */
  readAll(options?: ReadAllOptions): Promise<RecordedEvent[]>;

  /** Resolves when the store answers; rejects with the reason otherwise. */
  ping(): Promise<void>;

  close(): Promise<void>;
}

export type ActualRevision = number | typeof NO_STREAM;

export class WrongExpectedRevision extends Error {
  override readonly name = "WrongExpectedRevision";
  constructor(
    readonly stream: string,
    readonly expectedRevision: ExpectedRevision,
    readonly actualRevision: ActualRevision,
  ) {
    super(`stream ${stream}: expected revision ${String(expectedRevision)}, actual ${String(actualRevision)}`);
  }
}

export class StreamNotFound extends Error {
  override readonly name = "StreamNotFound";
  constructor(readonly stream: string) {
    super(`stream ${stream} not found`);
  }
}

/**
 * The rule every adapter applies to accept or refuse an append, given the stream's current
 * revision (NO_STREAM when it has no event).
 */
export function acceptsRevision(expected: ExpectedRevision, actual: ActualRevision): boolean {
  switch (expected) {
    case ANY:
      return true;
    case NO_STREAM:
      return actual === NO_STREAM;
    case STREAM_EXISTS:
      return actual !== NO_STREAM;
    default:
      return actual === expected;
  }
}

/**
 * The EventStore port. Semantics follow EventStoreDB so that the embedded stores (memory,
 * SQLite) and the production one (EventStoreDB) are interchangeable:
 * - stream revisions count from 0; the revision of an empty/missing stream is "none";
 * - every append names the revision it expects and fails with WrongExpectedRevision otherwise;
 * - the global log orders every event of every stream by a position that only grows.
 */

import type { JsonObject } from "../json";

export type { JsonObject };

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
  /** The name of the admin whose request caused the event (ADMIN_TOKENS), when an admin route did. */
  actor?: string;
  /**
   * The version of the shape of `data` (an integer from 1), set on append to the version the
   * code writes; an event stored without it is at version 1. Reads return every event at the
   * current version of its type (see EventSchemas).
   */
  schemaVersion?: number;
  /** Adapters store and return any further keys unchanged. */
  [key: string]: unknown;
}

/** An event as a caller hands it to the store. */
export interface EventData<Type extends string = string, Data extends JsonObject = JsonObject> {
  /** UUID chosen by the caller, so that an append retried after a timeout is recognisable. */
  id: string;
  type: Type;
  data: Data;
  metadata: EventMetadata;
}

/** An event as the store hands it back. */
export interface RecordedEvent<Type extends string = string, Data extends JsonObject = JsonObject> extends EventData<Type, Data> {
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

  /**
   * Calls `listener` soon after events of non-system streams were appended, so that a reader of
   * the global log (the relay, projectors) wakes instead of polling. Appends of this process
   * are signalled by every adapter; those of other processes where the store can tell
   * (PostgreSQL: LISTEN/NOTIFY; SQLite: the file's write-ahead log changed). A wake can be
   * missed (a connection down, another process on EventStoreDB), so readers still poll, slowly.
   * `position`, when given, is an appended position: a reader whose readAll does not reach it
   * yet should look again soon (PostgreSQL shows it once older transactions ended).
   * Returns the function that unsubscribes.
   */
  onAppended(listener: AppendListener): () => void;

  /**
   * Tries to take the lease `name`, which at most one holder has at a time across every
   * process on this store (one relay publishing). Resolves undefined when another holds it.
   * The holder keeps it until release() or until it is lost (its connection or process died,
   * or it could not renew within `ttlMs`), which aborts `lease.lost`; a lost holder must stop
   * at once. A holder that dies without releasing frees it within `ttlMs` (PostgreSQL: when its
   * session ends).
   */
  tryAcquireLease(name: string, ttlMs: number): Promise<Lease | undefined>;

  /** Resolves when the store answers; rejects with the reason otherwise. */
  ping(): Promise<void>;

  close(): Promise<void>;
}

/**
 * The schema version of each event type and how its older versions read today: the domain's
 * upcasters (domain/upcasting.ts), handed to the store when it is created (index.ts).
 */
export interface EventSchemas {
  /** The version of `type` that the code writes. */
  currentVersion(type: string): number;
  /**
   * `data`, written at `version`, in the shape of the current version of `type`.
   * @throws when `version` is not one from 1 to the current version.
   */
  upcast(type: string, version: number, data: JsonObject): JsonObject;
}

/** An event stored in a shape this code cannot read: a schema version newer than it knows, or none it could know. */
export class UnreadableEvent extends Error {
  override readonly name = "UnreadableEvent";
  constructor(
    readonly stream: string,
    readonly revision: number,
    readonly eventId: string,
    cause: unknown,
  ) {
    super(`event ${eventId} (${stream}@${revision}): ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

/** Called after an append; see EventStore.onAppended. */
export type AppendListener = (position: bigint | undefined) => void;

export interface Lease {
  /** Aborted once the lease is no longer held: lost, released, or the store closed. */
  readonly lost: AbortSignal;
  /** Gives the lease up, so that another holder can take it at once. */
  release(): Promise<void>;
}

/** System streams ($-prefixed: checkpoints, leases) stay out of the global log, as in EventStoreDB. */
export function isSystemStream(stream: string): boolean {
  return stream.startsWith("$");
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

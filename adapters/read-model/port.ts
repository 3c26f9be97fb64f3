import type { JsonObject, RecordedEvent } from "../event-store";

/**
 * The ReadModelStore port: read models (the order list, the DLQ list) as tables in a database,
 * each kept by a checkpointed projector that writes its rows and its checkpoint in one
 * transaction. Adapters: memory (beside the memory event store), SQLite, PostgreSQL.
 *
 * A view lists one kind of aggregate: one row per aggregate (stream `<prefix>-<id>`), its
 * state folded from its events with the aggregate's own `evolve`, newest first by the global
 * position of its first event (the row's key, which never changes, not even in a rebuild).
 */
export interface ViewDefinition<State> {
  /** Names the projection, its tables (`<name>_view`...) and its checkpoint: [a-z][a-z0-9_]*. */
  name: string;
  /** Streams `<streamPrefix>-<id>` feed it; the others only move its checkpoint. */
  streamPrefix: string;
  initialState(): State;
  evolve(state: State, event: { type: string; data: JsonObject }): State;
  /** Whether a state is listed (an aggregate that has not begun is not). Listed once, listed for good. */
  exists(state: State): boolean;
  /** Columns a list is filtered by ([a-z][a-z0-9_]*), each indexed together with the key. */
  columns: readonly string[];
  columnsOf(state: State): Readonly<Record<string, string | null>>;
  /** One of `columns`, never null for a listed state: what counts() counts by (a status). */
  countedBy: string;
}

/** Equality on columns; an undefined value does not filter. */
export type Filter = Readonly<Record<string, string | undefined>>;

export interface ListRequest {
  filter: Filter;
  /** Only rows whose key is below this one (the key of the last row of the previous page). */
  before?: bigint;
  limit: number;
}

export interface ListedRow<State> {
  key: bigint;
  state: State;
}

export interface ListResult<State> {
  rows: ListedRow<State>[];
  /** Whether more rows match below the last one. */
  more: boolean;
}

export type RebuildStatus = "rebuilding" | "done" | "failed" | "interrupted";

/** The last rebuild of a view, kept in its database so that every node can report it. */
export interface RebuildState {
  status: RebuildStatus;
  /** Who runs it: `<nodeID>/<broker instance>`. */
  owner: string;
  /** Checkpoint of the table being built (while rebuilding), of the table swapped in (done). */
  position: bigint;
  /** Position of the first event the rebuild folded: where its progress starts. */
  first: bigint | null;
  /** The log's head when it started: where its progress ends. */
  target: bigint;
  startedAt: string;
  finishedAt: string | null;
  /** Milliseconds since the epoch of its last batch: an owner silent for long is gone. */
  heartbeatAt: number;
  error: string | null;
}

/** A rebuild of this view is running elsewhere (its owner wrote a batch recently). */
export class RebuildRunning extends Error {
  override readonly name = "RebuildRunning";
  constructor(
    readonly view: string,
    readonly owner: string,
  ) {
    super(`projection ${view} is being rebuilt by ${owner}`);
  }
}

/**
 * The table served is sealed for a moment while a rebuild swaps its table in: a batch folded
 * now would only have to be folded again. Try again shortly (the seal lasts milliseconds,
 * and expires by itself if its rebuild dies).
 */
export class ViewSealed extends Error {
  override readonly name = "ViewSealed";
  constructor(readonly view: string) {
    super(`projection ${view} is being swapped`);
  }
}

/** The rebuild this caller ran was taken over, ended or replaced meanwhile: it must stop. */
export class RebuildLost extends Error {
  override readonly name = "RebuildLost";
  constructor(readonly view: string) {
    super(`projection ${view}: this rebuild is no longer the one running`);
  }
}

export interface View<State> {
  readonly definition: ViewDefinition<State>;

  /** Position of the last event folded into the table served (0n before any). */
  checkpoint(): Promise<bigint>;

  /**
   * In one transaction: when the checkpoint is still `from` (the position `events` were read
   * after), folds the events into the rows, writes them and moves the checkpoint to the last
   * event's position; otherwise (another projector moved it) changes nothing. Answers the
   * checkpoint after. The checkpoint never moves back.
   * @throws ViewSealed while a rebuild seals the table to swap it.
   */
  apply(from: bigint, events: readonly RecordedEvent[]): Promise<bigint>;

  /** Rows that match, newest first (highest key first). */
  list(request: ListRequest): Promise<ListResult<State>>;

  /** How many rows hold each value of the counted column. */
  counts(): Promise<Record<string, number>>;

  /**
   * Begins a rebuild: an empty table beside the one served, with its own checkpoint at 0.
   * @throws RebuildRunning when another owner's rebuild wrote within `staleAfterMs`.
   */
  startRebuild(owner: string, target: bigint, options: { now: Date; staleAfterMs: number }): Promise<RebuildState>;

  /**
   * `apply` into the table being rebuilt, with the rebuild's checkpoint; also its heartbeat.
   * @throws RebuildLost when `owner` no longer runs the rebuild.
   */
  applyToRebuild(owner: string, from: bigint, events: readonly RecordedEvent[], now: Date): Promise<bigint>;

  /**
   * Seals the table served until `now + forMs`: its checkpoint stops moving (apply throws
   * ViewSealed), so that the rebuild can catch up with it for good and swap. A seal whose
   * owner dies expires by itself; swap() and endRebuild() lift it.
   * @throws RebuildLost when `owner` no longer runs the rebuild.
   */
  seal(owner: string, now: Date, forMs: number): Promise<void>;

  /**
   * In one transaction, swaps the rebuilt table in for the one served, with its checkpoint,
   * and lifts the seal; reads wait for it and then see the new table. Answers false (lifting
   * the seal, changing nothing else) when the rebuilt table is behind the one served (the seal
   * expired before the rebuild caught up): catch up, seal and try again.
   * @throws RebuildLost when `owner` no longer runs the rebuild.
   */
  swap(owner: string, now: Date): Promise<boolean>;

  /** Ends `owner`'s rebuild without swapping (failed, interrupted) and drops its table. */
  endRebuild(owner: string, status: "failed" | "interrupted", error: string | null, now: Date): Promise<void>;

  /** The last rebuild, with the rows of the table it is building (or built); undefined before any. */
  rebuildState(): Promise<(RebuildState & { rows: number }) | undefined>;
}

export interface ReadModelStore {
  /** The view's tables, created when missing. */
  view<State>(definition: ViewDefinition<State>): Promise<View<State>>;
  /** Random bytes kept in the database, the same for every node that uses it: the cursors' key. */
  secret(): Promise<Buffer>;
  /** Resolves when the database answers. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

const IDENTIFIER = /^[a-z][a-z0-9_]{0,40}$/;

/** Refuses a definition whose names could not be table or column names as they are. */
export function checkDefinition<State>(definition: ViewDefinition<State>): void {
  for (const name of [definition.name, ...definition.columns]) {
    if (!IDENTIFIER.test(name)) throw new Error(`read model ${definition.name}: '${name}' is not a name of [a-z][a-z0-9_]*`);
  }
  if (!definition.columns.includes(definition.countedBy)) {
    throw new Error(`read model ${definition.name}: countedBy ${definition.countedBy} is not one of its columns`);
  }
}

/** The columns of a filter that filter, each checked to be one of the view's. */
export function filterColumns<State>(definition: ViewDefinition<State>, filter: Filter): [string, string][] {
  const used: [string, string][] = [];
  for (const [column, value] of Object.entries(filter)) {
    if (value === undefined) continue;
    if (!definition.columns.includes(column)) throw new Error(`read model ${definition.name} has no column ${column}`);
    used.push([column, value]);
  }
  return used;
}

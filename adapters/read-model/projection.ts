import { setImmediate as nextTurn } from "node:timers/promises";
import type { EventStore } from "../event-store";
import { Filter, ReadModelStore, RebuildLost, RebuildRunning, RebuildState, RebuildStatus, View, ViewDefinition } from "./port";
import { CursorCodec } from "./cursor";
import { BATCH_SIZE, Projector } from "./projector";

export { InvalidCursor } from "./cursor";
export { RebuildRunning };

export interface ListPage<State> {
  items: State[];
  nextCursor: string | null;
}

/** GET /api/projections/<name>: the last rebuild, and the table being built or served. */
export interface ProjectionReport {
  name: string;
  /** Of the last rebuild; "idle" when there never was one. */
  status: "idle" | RebuildStatus;
  /** Checkpoint of the table being rebuilt (while rebuilding), else of the table served. */
  position: string;
  /** Rows of that table. */
  rows: number;
  startedAt: string | null;
  finishedAt: string | null;
  /** The log's head when the rebuild started: where it has caught up with the log. */
  target: string | null;
  /** 0..1, by position between the first event and the target. */
  progress: number | null;
  error: string | null;
}

export interface ProjectionLogger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export interface ProjectionOptions {
  /** How often the projector catches up in the background. */
  followMs: number;
  /** A rebuild whose owner wrote nothing for this long is taken for gone (another may start). */
  staleAfterMs?: number;
  batchSize?: number;
  logger: ProjectionLogger;
}

const STALE_AFTER_MS = 30_000;
/**
 * How long the table served may stay sealed while the rebuild folds its last events and swaps
 * (milliseconds in practice); a seal whose rebuild died expires after it.
 */
const SEAL_MS = 2000;

/**
 * One read model as a service serves it: its view (a table), the projector that keeps it
 * up to date, its cursors, and its rebuild. Queries catch up first, so a caller sees its own
 * writes; the table and its checkpoint live in the database, so a start folds only what the
 * log gained since the last one, and memory does not grow with the rows.
 */
export class Projection<State> {
  private readonly projector: Projector<State>;
  private rebuilding: { stopping: boolean; done: Promise<void> } | undefined;
  /** Between a rebuild's request and its start: a second request meanwhile is refused too. */
  private startingRebuild = false;

  private constructor(
    readonly name: string,
    private readonly log: EventStore,
    private readonly view: View<State>,
    private readonly cursors: CursorCodec,
    private readonly options: ProjectionOptions,
  ) {
    this.projector = new Projector(log, view, options.batchSize);
  }

  /** Opens the view (creating its tables when missing), catches up from its checkpoint and follows the log. */
  static async open<State>(
    name: string,
    log: EventStore,
    store: ReadModelStore,
    definition: ViewDefinition<State>,
    options: ProjectionOptions,
  ): Promise<Projection<State>> {
    const view = await store.view(definition);
    const projection = new Projection(name, log, view, new CursorCodec(await store.secret(), definition.name), options);
    await projection.projector.start();
    await projection.projector.catchUp();
    projection.projector.follow(options.followMs, (error) => options.logger.warn(`projection ${name}: catching up failed: ${String(error)}`));
    return projection;
  }

  /** Folds what the log gained: every event appended before the call. */
  catchUp(): Promise<void> {
    return this.projector.catchUp();
  }

  /**
   * A page of the rows that match, newest first, after catching up.
   * @throws InvalidCursor for a cursor this list did not give.
   */
  async list(filter: Filter, limit: number, cursor?: string): Promise<ListPage<State>> {
    const before = cursor === undefined ? undefined : this.cursors.decode(cursor);
    await this.projector.catchUp();
    const { rows, more } = await this.view.list({ filter, before, limit });
    const last = rows[rows.length - 1];
    return { items: rows.map((row) => row.state), nextCursor: more && last ? this.cursors.encode(last.key) : null };
  }

  /** Every row that matches, read page by page (for work on each of them, not for answers). */
  async all(filter: Filter, pageSize = 500): Promise<State[]> {
    await this.projector.catchUp();
    const found: State[] = [];
    let before: bigint | undefined;
    for (;;) {
      const { rows, more } = await this.view.list({ filter, before, limit: pageSize });
      found.push(...rows.map((row) => row.state));
      if (!more) return found;
      before = rows[rows.length - 1]!.key;
    }
  }

  /** Rows per value of the counted column (a status), after catching up. */
  async counts(): Promise<Record<string, number>> {
    await this.projector.catchUp();
    return this.view.counts();
  }

  /**
   * Starts a rebuild by `owner` (`<node>/<instance>`): a new table filled from position 0 while
   * the old one serves, swapped in once it has caught up. Answers at once; report() follows it.
   * @throws RebuildRunning when one runs here, or elsewhere and its owner is alive.
   */
  async rebuild(owner: string): Promise<ProjectionReport> {
    if (this.rebuilding || this.startingRebuild) throw new RebuildRunning(this.name, owner);
    this.startingRebuild = true;
    let target: bigint;
    let started: RebuildState;
    try {
      await this.projector.catchUp();
      target = await this.view.checkpoint();
      started = await this.view.startRebuild(owner, target, { now: new Date(), staleAfterMs: this.options.staleAfterMs ?? STALE_AFTER_MS });
    } finally {
      this.startingRebuild = false;
    }
    const run = { stopping: false, done: Promise.resolve() };
    run.done = this.runRebuild(owner, run).finally(() => (this.rebuilding = undefined));
    this.rebuilding = run;
    this.options.logger.info(`projection ${this.name}: rebuilding up to position ${target}`);
    return this.rebuildingReport({ ...started, rows: 0 });
  }

  /** Resolves when the rebuild this node runs (if any) has ended. */
  async rebuildDone(): Promise<void> {
    await this.rebuilding?.done;
  }

  /**
   * Folds the log into the new table until it has caught up with the table served, in rounds
   * (the table served moves on meanwhile) until one round takes a single batch; then seals the
   * table served (its checkpoint stops moving, queries wait), folds up to its checkpoint and
   * swaps: the rebuilt table is never behind the one it replaces, however busy the log, and
   * the seal lasts a batch or two. Events after that point are the projectors' to fold.
   */
  private async runRebuild(owner: string, run: { stopping: boolean }): Promise<void> {
    const { logger } = this.options;
    let position = 0n;
    /** Folds up to `target`; answers the batches it took, or undefined when the node stops. */
    const foldUpTo = async (target: bigint): Promise<number | undefined> => {
      let batches = 0;
      while (position < target) {
        if (run.stopping) return undefined;
        const events = await this.log.readAll({ after: position, maxCount: this.options.batchSize ?? BATCH_SIZE });
        if (events.length === 0) break;
        position = await this.view.applyToRebuild(owner, position, events, new Date());
        batches += 1;
        // SQLite batches run synchronously: reads and writes of this process go on in between.
        await nextTurn();
      }
      return batches;
    };
    try {
      for (;;) {
        let batches: number | undefined;
        do batches = await foldUpTo(await this.view.checkpoint());
        while (batches !== undefined && batches > 1);
        if (batches === undefined) break;
        await this.view.seal(owner, new Date(), SEAL_MS);
        if ((await foldUpTo(await this.view.checkpoint())) === undefined) break;
        if (await this.view.swap(owner, new Date())) {
          logger.info(`projection ${this.name}: rebuilt up to position ${position} and swapped in`);
          return;
        }
        // The seal expired before the last batches were folded: the table served moved on; again.
      }
      await this.view.endRebuild(owner, "interrupted", "the node running it stopped", new Date());
    } catch (error) {
      if (error instanceof RebuildLost) {
        logger.warn(`projection ${this.name}: ${error.message}; stopped`);
        return;
      }
      logger.error(`projection ${this.name}: rebuild failed: ${String(error)}`);
      await this.view.endRebuild(owner, "failed", error instanceof Error ? error.message : String(error), new Date()).catch(() => undefined);
    }
  }

  /** The last rebuild and the table it is building, or the table served, caught up. */
  async report(): Promise<ProjectionReport> {
    await this.projector.catchUp();
    const state = await this.view.rebuildState();
    const stale = state?.status === "rebuilding" && Date.now() - state.heartbeatAt >= (this.options.staleAfterMs ?? STALE_AFTER_MS) && !this.rebuilding;
    if (state?.status === "rebuilding" && !stale) return this.rebuildingReport(state);
    const [position, counts] = await Promise.all([this.view.checkpoint(), this.view.counts()]);
    return {
      name: this.name,
      status: stale ? "interrupted" : (state?.status ?? "idle"),
      position: position.toString(),
      rows: Object.values(counts).reduce((sum, count) => sum + count, 0),
      startedAt: state?.startedAt ?? null,
      finishedAt: state?.finishedAt ?? null,
      target: state ? state.target.toString() : null,
      progress: state?.status === "done" ? 1 : null,
      error: stale ? "its node stopped writing: gone" : (state?.error ?? null),
    };
  }

  private rebuildingReport(state: RebuildState & { rows: number }): ProjectionReport {
    return {
      name: this.name,
      status: "rebuilding",
      position: state.position.toString(),
      rows: state.rows,
      startedAt: state.startedAt,
      finishedAt: null,
      target: state.target.toString(),
      progress: progressOf(state.first, state.position, state.target),
      error: null,
    };
  }

  /** Stops following the log and any rebuild this node runs (it ends "interrupted"). */
  async stop(): Promise<void> {
    if (this.rebuilding) {
      this.rebuilding.stopping = true;
      await this.rebuilding.done;
    }
    await this.projector.stop();
  }
}

function progressOf(first: bigint | null, position: bigint, target: bigint): number {
  if (position >= target) return 1;
  if (first === null || target <= first) return 0;
  return Math.min(1, Math.max(0, Number(position - first) / Number(target - first)));
}

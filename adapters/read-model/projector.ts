import { setImmediate as nextTurn, setTimeout as sleep } from "node:timers/promises";
import type { EventStore } from "../event-store";
import { View, ViewSealed } from "./port";

/**
 * Events read from the log and folded in one transaction, which holds the event loop (SQLite
 * runs synchronously): about 11 us an event here, so a batch stays near 3 ms.
 */
export const BATCH_SIZE = 250;
/**
 * After a wake, how long the projector lets appends gather before it folds them: queries catch
 * up by themselves, so the background pass only bounds their backlog, and one write
 * transaction per wake would contend with the appends (SQLite has one writer at a time).
 */
export const WAKE_GATHER_MS = 100;
/** How long to wait before folding again into a table sealed for a swap (which takes milliseconds). */
const SEALED_RETRY_MS = 5;
/** How long a pass waits for a signalled position that the log does not show yet (see pass()). */
export const HIDDEN_WAIT_MS = 200;

const ignore = () => undefined;

/**
 * Keeps one view's table up to date with the global log: reads it after the view's checkpoint,
 * in batches, and hands each batch to the view, which writes the rows and the checkpoint in
 * one transaction (or nothing, when another projector, on another node, got there first: this
 * one goes on from where that one left the checkpoint).
 */
export class Projector<State> {
  private position = 0n;
  private running: Promise<void> | undefined;
  private queued: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private woken: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  /** The highest position the store signalled while following. */
  private known = 0n;

  constructor(
    private readonly log: EventStore,
    private readonly view: View<State>,
    private readonly batchSize = BATCH_SIZE,
  ) {}

  /** Starts from the view's durable checkpoint, not from the beginning of the log. */
  async start(): Promise<void> {
    this.position = await this.view.checkpoint();
  }

  /**
   * Resolves once every event appended before the call is folded, so that a query run after
   * it sees its caller's own writes. One pass runs at a time; calls made while one runs share
   * the next pass (the running one may have read the log's end before their writes).
   */
  catchUp(): Promise<void> {
    if (!this.running) {
      this.running = this.pass().finally(() => (this.running = undefined));
      return this.running;
    }
    this.queued ??= this.running.then(ignore, ignore).then(() => {
      this.queued = undefined;
      return this.catchUp();
    });
    return this.queued;
  }

  /**
   * Catches up in the background as well, so that no query, nor the next start, has a long
   * backlog to fold: shortly after the store signals an append, and every `intervalMs` in case
   * a signal was missed. Timers do not hold the process.
   */
  follow(intervalMs: number, onError: (error: unknown) => void): void {
    this.stopFollowing();
    const pass = () => this.catchUp().catch(onError);
    this.timer = setInterval(() => void pass(), intervalMs).unref();
    this.unsubscribe = this.log.onAppended((position) => {
      if (position !== undefined && position > this.known) this.known = position;
      this.woken ??= setTimeout(() => {
        this.woken = undefined;
        void pass();
      }, WAKE_GATHER_MS).unref();
    });
  }

  /** Stops following and waits for the pass under way. */
  async stop(): Promise<void> {
    this.stopFollowing();
    await this.running?.catch(ignore);
    await this.queued?.catch(ignore);
  }

  private stopFollowing(): void {
    clearInterval(this.timer);
    clearTimeout(this.woken);
    this.unsubscribe?.();
    this.timer = this.woken = this.unsubscribe = undefined;
  }

  /**
   * Ends with a batch shorter than a full one: that read reached the end of the log as it was
   * after the pass began, so every event appended before it is folded; a pass that went on
   * until a read came back empty would never end while appends keep coming. Unless the store
   * signalled, before the pass began, a position the read did not reach: PostgreSQL shows an
   * event only once every older transaction has ended, so it is read again shortly (1, 2,
   * 4... ms, for HIDDEN_WAIT_MS at most; then the next pass folds it).
   */
  private async pass(): Promise<void> {
    const signalled = this.known;
    let hiddenWaitMs = 1;
    let hiddenSince: number | undefined;
    for (;;) {
      const events = await this.log.readAll({ after: this.position, maxCount: this.batchSize });
      if (events.length > 0) {
        try {
          this.position = await this.view.apply(this.position, events);
        } catch (error) {
          // A rebuild is swapping its table in: wait for the new table (a query waits with it).
          if (!(error instanceof ViewSealed)) throw error;
          await sleep(SEALED_RETRY_MS);
          continue;
        }
      }
      const full = events.length === this.batchSize;
      // Unless another projector moved the checkpoint elsewhere than this batch's end: go on from there.
      const movedElsewhere = events.length > 0 && this.position < events[events.length - 1]!.position;
      if (!full && !movedElsewhere) {
        if (this.position >= signalled) return;
        hiddenSince ??= performance.now();
        if (performance.now() - hiddenSince > HIDDEN_WAIT_MS) return;
        await sleep(hiddenWaitMs);
        hiddenWaitMs = Math.min(hiddenWaitMs * 2, HIDDEN_WAIT_MS);
        continue;
      }
      // Requests and appends go on between two batches.
      await nextTurn();
    }
  }
}

import { EventStore, Lease } from "../../adapters/event-store";
import { Clock } from "../../adapters/clock";
import { OrderSaga, dueOf } from "../../domain/order-saga";
import { settleWithin } from "../../adapters/bus/in-flight";
import { runAsLeader } from "../shared/leader-loop";

export interface DeadlineSchedulerLogger {
  info(message: string): void;
  warn(message: string): void;
  debug(message: string): void;
}

export interface DeadlineSchedulerOptions {
  /** Where the lease lives that makes one scheduler act. */
  store: EventStore;
  /** The running sagas as the saga view has them, caught up with the log. */
  runningSagas: () => Promise<OrderSaga[]>;
  /**
   * Times the saga out if it is due (decided again on its stream, at the revision read), and
   * drives a saga stopped (timed out, cancelled by an operator) on to its end.
   */
  settle: (orderId: string) => Promise<void>;
  clock: Clock;
  logger: DeadlineSchedulerLogger;
  leaseTtlMs?: number;
  scanMs?: number;
}

/** The lease that makes one orchestrator of the cluster the one that expires sagas. */
export const DEADLINE_LEASE = "saga-deadlines";
/**
 * As the relay's: a scheduler killed with -9 is replaced within this (plus one try of a standby,
 * a quarter of it), seconds against deadlines of minutes.
 */
const LEASE_TTL_MS = 2000;
/**
 * The view is read again this often, for the sagas that started or moved since the last read;
 * a timer wakes the scheduler for the nearest due time it knows in between. A read is a page
 * or two of the running rows (a few dozen in normal operation), so once a second costs little,
 * and a deadline shorter than this (a test's) is late by this at most.
 */
const SCAN_MS = 1000;
/**
 * A stopped saga that recorded nothing for this long is driven again (its driver died, or its
 * participant failed): the compensation of an expiry survives the scheduler's node dying.
 */
const REDRIVE_AFTER_MS = 10_000;
/** Sagas settled at once: the calls they make go through the participants' bulkheads (20 by default). */
const MAX_IN_FLIGHT = 10;
const FAILURE_PAUSE_MS = 1000;
const STOP_WAIT_MS = 5000;

/**
 * Expires sagas whose deadline or step timeout passed, from the log alone: its timers are
 * rebuilt from the saga view at every read, so a restart, or the death of every node, loses no
 * deadline (the next scheduler finds the overdue saga in the view and expires it at once).
 *
 * One scheduler acts at a time: the holder of the event store's lease DEADLINE_LEASE; the others
 * stand by and try to take it every ttl/4. Two that overlap for a moment (a holder that has not
 * noticed its loss) do no harm: an expiry is appended at the revision it was decided on, and the
 * saga's decider records it once.
 */
export class DeadlineScheduler {
  private running = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private readonly inFlight = new Map<string, Promise<void>>();
  /** When this scheduler last drove each stopped saga: not again before REDRIVE_AFTER_MS. */
  private readonly lastDriven = new Map<string, number>();
  private leading = false;

  constructor(private readonly options: DeadlineSchedulerOptions) {}

  private get leaseTtlMs(): number {
    return this.options.leaseTtlMs ?? LEASE_TTL_MS;
  }

  get leader(): boolean {
    return this.leading;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** Stops scheduling, waits (a while) for the sagas being settled, and gives the lease up. */
  async stop(): Promise<void> {
    this.running = false;
    this.wake?.();
    await settleWithin([this.loop, ...this.inFlight.values()], STOP_WAIT_MS);
  }

  private run(): Promise<void> {
    const { store, logger } = this.options;
    return runAsLeader({
      store,
      lease: DEADLINE_LEASE,
      ttlMs: this.leaseTtlMs,
      who: "deadline scheduler",
      work: "schedules saga deadlines",
      logger,
      running: () => this.running,
      pause: (ms) => this.pause(ms),
      lead: (lease) => this.lead(lease),
    });
  }

  private async lead(lease: Lease): Promise<void> {
    const { logger } = this.options;
    const lost = () => this.wake?.();
    lease.lost.addEventListener("abort", lost, { once: true });
    this.leading = true;
    logger.info("deadline scheduler: took the lease; scheduling saga deadlines from the saga view");
    try {
      while (this.running && !lease.lost.aborted) {
        let next: number;
        try {
          next = await this.scan();
        } catch (error) {
          logger.warn(`deadline scheduler: reading the running sagas failed (${(error as Error).message}); trying again in ${FAILURE_PAUSE_MS} ms`);
          next = FAILURE_PAUSE_MS;
        }
        await this.pause(next);
      }
      if (lease.lost.aborted && this.running) {
        logger.warn(`deadline scheduler: lost the lease (${(lease.lost.reason as Error).message}); another orchestrator schedules from the view`);
      }
    } finally {
      lease.lost.removeEventListener("abort", lost);
      this.leading = false;
      this.lastDriven.clear();
    }
  }

  /** Settles what is due now; answers how long to wait before the next look. */
  private async scan(): Promise<number> {
    const { runningSagas, clock, logger } = this.options;
    const sagas = await runningSagas();
    const now = clock.now().getTime();
    let nearest = now + SCAN_MS;
    for (const saga of sagas) {
      if (saga.status !== "running") continue;
      const { orderId } = saga.order;
      const dueAt = this.dueAt(saga);
      if (dueAt === null) continue;
      if (dueAt > now) {
        nearest = Math.min(nearest, dueAt);
        continue;
      }
      if (this.inFlight.has(orderId) || this.inFlight.size >= MAX_IN_FLIGHT) continue;
      this.settle(orderId, now);
    }
    const watched = new Set(sagas.flatMap((saga) => (saga.status === "initial" ? [] : [saga.order.orderId])));
    for (const orderId of this.lastDriven.keys()) if (!watched.has(orderId)) this.lastDriven.delete(orderId);
    logger.debug(`deadline scheduler: ${sagas.length} running sagas, next look in ${nearest - now} ms`);
    return Math.max(0, nearest - now);
  }

  /** When the saga needs this scheduler: its expiry, or (stopped) its next drive; null: never. */
  private dueAt(saga: Extract<OrderSaga, { status: "running" }>): number | null {
    if (saga.stop) {
      const driven = this.lastDriven.get(saga.order.orderId) ?? -Infinity;
      return Math.max(Date.parse(saga.lastProgressAt), driven) + REDRIVE_AFTER_MS;
    }
    const due = dueOf(saga);
    return due === null ? null : Date.parse(due.at);
  }

  private settle(orderId: string, now: number): void {
    const { settle, logger } = this.options;
    this.lastDriven.set(orderId, now);
    const settling = settle(orderId)
      .catch((error: unknown) =>
        logger.warn(`deadline scheduler: saga ${orderId} not settled (${(error as Error).message}); driven again in ${REDRIVE_AFTER_MS} ms`),
      )
      .finally(() => {
        this.inFlight.delete(orderId);
        // Room for another, and this one's new state to schedule.
        this.wake?.();
      });
    this.inFlight.set(orderId, settling);
  }

  /** Waits `ms`, or less: until stop(), the lease's loss, or a settled saga. */
  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (!this.running) return resolve();
      const timer = setTimeout(() => done(), ms).unref();
      const done = () => {
        clearTimeout(timer);
        if (this.wake === done) this.wake = undefined;
        resolve();
      };
      this.wake = done;
    });
  }
}

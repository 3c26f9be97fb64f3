import type { EventStore, Lease } from "../../adapters/event-store";

/** A standby tries to take the lease this many times per TTL: a dead holder is replaced within TTL + TTL/4. */
const LEASE_TRIES_PER_TTL = 4;
/** After the store failed to answer, the next try. */
const FAILURE_PAUSE_MS = 1000;

export interface LeaderLoopLogger {
  info(message: string): void;
  warn(message: string): void;
}

export interface LeaderLoopOptions {
  store: EventStore;
  /** The lease's name in the store: one holder per name. */
  lease: string;
  ttlMs: number;
  /** Who is looping, as the log names it ("relay", "deadline scheduler"). */
  who: string;
  /** What the holder does, said when another holds it: "publishes", "schedules saga deadlines". */
  work: string;
  logger: LeaderLoopLogger;
  running(): boolean;
  /** Waits up to `ms`, or less when woken (a stop). */
  pause(ms: number): Promise<void>;
  /** Works while it holds the lease; returns when it stops or the lease is lost. */
  lead(lease: Lease): Promise<void>;
}

/**
 * One of several nodes acts at a time: stands by until it holds the store's lease, works
 * while it holds it (the lease renews itself and aborts `lost` when it cannot), gives it up,
 * and again, until stopped. Shared by the relay and the deadline scheduler.
 */
export async function runAsLeader(options: LeaderLoopOptions): Promise<void> {
  const { store, logger, who } = options;
  let standingBy = false;
  while (options.running()) {
    let lease: Lease | undefined;
    try {
      lease = await store.tryAcquireLease(options.lease, options.ttlMs);
    } catch (error) {
      logger.warn(`${who}: the lease could not be asked for (${(error as Error).message}); trying again in ${FAILURE_PAUSE_MS} ms`);
      await options.pause(FAILURE_PAUSE_MS);
      continue;
    }
    if (!lease) {
      if (!standingBy) logger.info(`${who}: another node ${options.work}; standing by`);
      standingBy = true;
      await options.pause(options.ttlMs / LEASE_TRIES_PER_TTL);
      continue;
    }
    standingBy = false;
    try {
      await options.lead(lease);
    } finally {
      await lease.release().catch((error: unknown) => logger.warn(`${who}: the lease was not given up (${(error as Error).message})`));
    }
  }
}

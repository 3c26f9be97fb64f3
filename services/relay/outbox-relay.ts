import { Logger } from "moleculer";
import { Headers, MessageBus, OutgoingMessage } from "../../adapters/bus/port";
import { Checkpoints } from "../../adapters/event-store/checkpoints";
import { EventStore, Lease, RecordedEvent } from "../../adapters/event-store";
import { settleWithin } from "../../adapters/bus/in-flight";
import { runAsLeader } from "../shared/leader-loop";
import { PublishWindow } from "./publish-window";

export interface OutboxRelayOptions {
  store: EventStore;
  bus: MessageBus;
  checkpoints: Checkpoints;
  /** Name of the durable checkpoint and of the lease that makes this relay the one publishing. */
  name: string;
  /**
   * How long it waits for new events when nothing woke it: appends wake it (onAppended), so
   * this is the fallback for a missed wake.
   */
  pollMs: number;
  /** How long a leader that died keeps the others waiting (at most; PostgreSQL frees it at once). */
  leaseTtlMs?: number;
  batchSize: number;
  /** Messages published and not yet safe at once (see PublishWindow). */
  windowSize: number;
  logger: Logger;
  /** Traces each publish (a producer span) and names it in the message's headers; none when tracing is off. */
  tracePublish?: (event: RecordedEvent) => PublishTrace | undefined;
}

/** One publish as a trace sees it: the headers that make the consumers' spans its children, and its end. */
export interface PublishTrace {
  headers: Headers;
  /** When the message is safe (or failed to be). */
  end(error?: unknown): void;
}

/** How long to wait before trying again after the store or the bus failed. */
const FAILURE_PAUSE_MS = 1000;
/**
 * How long stop() waits for the loop to end and write its last checkpoint. What is not safe
 * by then keeps the checkpoint before it, so it is published again after the restart.
 */
const STOP_WAIT_MS = 5000;
/**
 * The checkpoint is written at most this often while messages flow (each write is an event of
 * a system stream); a crash publishes again what became safe since, at least once.
 */
const CHECKPOINT_INTERVAL_MS = 200;
/**
 * The lease of the one relay publishing: a leader killed with -9 is replaced within this
 * (SQLite's lease row expires; PostgreSQL's lock dies with the session at once) plus one
 * try of a standby, a quarter of LEASE_TTL_MS later at most (services/shared/leader-loop.ts): 2.5 s, under the 5 s
 * asked for, while a leader on a busy machine can miss three renewals in a row (one every
 * 500 ms) and keep it.
 */
export const LEASE_TTL_MS = 2000;
/**
 * After a wake whose position readAll does not show yet (PostgreSQL shows an event once every
 * older transaction ended, a projector's included, which notifies no one), look again after
 * 1, 2, 4... ms, then every HIDDEN_MAX_RETRY_MS (or pollMs if shorter) until it shows: a cheap
 * read, while a transaction left open holds the log back.
 */
const HIDDEN_FIRST_RETRY_MS = 1;
const HIDDEN_MAX_RETRY_MS = 100;

/** A stored event as it travels on the bus: routing key = event type, message id = event id. */
export function toMessage(event: RecordedEvent, traceHeaders: Headers = {}): OutgoingMessage {
  return {
    messageId: event.id,
    topic: event.type,
    payload: {
      id: event.id,
      type: event.type,
      stream: event.stream,
      revision: event.revision,
      position: event.position.toString(),
      data: event.data,
      metadata: event.metadata,
    },
    headers: { correlationId: String(event.metadata.correlationId), causationId: String(event.metadata.causationId), ...traceHeaders },
  };
}

/**
 * The event store is the outbox: the relay reads the global log after the last position it
 * published and publishes each event with publishDurably(), keeping at most `windowSize` of
 * them not yet safe. The checkpoint moves only up to the last position before which every
 * message is safe: confirmed by RabbitMQ, or, on the memory bus, which dies with the process,
 * settled by every consumer it was routed to. A crash or a stop publishes again what was not
 * safe yet after the restart: at least once, never lost, with the backlog waiting in the
 * store rather than in memory.
 *
 * One relay at a time: however many run, only the holder of the store's lease `name`
 * publishes; the others try to take it every quarter of LEASE_TTL_MS. A new leader
 * starts from the durable checkpoint. A leader that loses the lease stops publishing at once
 * and leaves the checkpoint to the next one: what it published meanwhile is published again,
 * at least once.
 *
 * Appends wake it (EventStore.onAppended); it polls every pollMs only in case a wake was missed.
 */
export class OutboxRelay {
  private running = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  /** Whether the pause in progress, if any, ends on an append. */
  private waitingForAppends = false;
  /** An append was signalled since the last read started. */
  private signalled = false;
  /** The highest position signalled: while readAll does not reach it, look again soon. */
  private known = 0n;
  private hiddenRetryMs = HIDDEN_FIRST_RETRY_MS;
  private lease: Lease | undefined;
  private window: PublishWindow | undefined;
  private saved: bigint | undefined;
  /** performance.now() of the last save: an interval, which a wall clock's jump must not stretch or cut. */
  private savedAt = -Infinity;
  private published = 0;

  constructor(private readonly options: OutboxRelayOptions) {}

  private get leaseTtlMs(): number {
    return this.options.leaseTtlMs ?? LEASE_TTL_MS;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /**
   * Stops publishing, writes the checkpoint of what is safe so far and gives the lease up,
   * waiting at most STOP_WAIT_MS; the rest is published again after the restart.
   */
  async stop(): Promise<void> {
    this.running = false;
    this.wake?.();
    await settleWithin([this.loop], STOP_WAIT_MS);
  }

  status(): { leader: boolean; position: string | null; published: number; inFlight: number } {
    return {
      leader: this.lease !== undefined,
      position: this.saved?.toString() ?? null,
      published: this.published,
      inFlight: this.window?.inFlight ?? 0,
    };
  }

  /** Stands by until it holds the lease, publishes while it holds it, and again. */
  private run(): Promise<void> {
    const { store, name, logger } = this.options;
    return runAsLeader({
      store,
      lease: name,
      ttlMs: this.leaseTtlMs,
      who: "relay",
      work: "publishes",
      logger,
      running: () => this.running,
      pause: (ms) => this.pause(ms),
      lead: (lease) => this.lead(lease),
    });
  }

  private async lead(lease: Lease): Promise<void> {
    const { store, logger } = this.options;
    const lost = () => this.wake?.();
    lease.lost.addEventListener("abort", lost, { once: true });
    // Before the first read, so that nothing appended after it goes unheard.
    const unsubscribe = store.onAppended((position) => this.appended(position));
    this.lease = lease;
    this.window = undefined;
    try {
      while (this.running && !lease.lost.aborted) {
        try {
          await this.step();
        } catch (error) {
          logger.warn(`relay: ${(error as Error).message}; trying again in ${FAILURE_PAUSE_MS} ms`);
          await this.pause(FAILURE_PAUSE_MS);
        }
      }
      if (lease.lost.aborted) {
        // The next leader owns the checkpoint now; it publishes again what this one had in flight.
        logger.warn(`relay: lost the lease (${(lease.lost.reason as Error).message}); another relay publishes from the checkpoint`);
        return;
      }
      await this.saveCheckpoint(true).catch((error: unknown) =>
        logger.warn(`relay: the last checkpoint was not written (${(error as Error).message}); publishing again from the previous one`),
      );
    } finally {
      unsubscribe();
      lease.lost.removeEventListener("abort", lost);
      this.lease = undefined;
      this.window = undefined;
    }
  }

  private appended(position: bigint | undefined): void {
    if (position !== undefined && position > this.known) this.known = position;
    this.signalled = true;
    if (this.waitingForAppends) this.wake?.();
  }

  private async step(): Promise<void> {
    const { store, batchSize, pollMs, logger } = this.options;
    const window = this.window ?? (await this.openWindow());
    if (window.failed) {
      logger.warn(`relay: a publish failed (${(window.failed.error as Error).message}); publishing again after position ${window.safe}`);
      await this.saveCheckpoint(true);
      this.window = this.newWindow(window.safe);
      await this.pause(FAILURE_PAUSE_MS);
      return;
    }
    await this.saveCheckpoint(false);
    if (window.room === 0) {
      await this.pause(CHECKPOINT_INTERVAL_MS);
      return;
    }
    this.signalled = false;
    const wanted = Math.min(batchSize, window.room);
    const page = await store.readAll({ after: window.published, maxCount: wanted });
    if (page.length === 0) {
      if (this.known > window.published) {
        await this.pause(this.hiddenRetryMs, true);
        this.hiddenRetryMs = Math.min(this.hiddenRetryMs * 2, HIDDEN_MAX_RETRY_MS, pollMs);
      } else {
        await this.pause(pollMs, true);
      }
      return;
    }
    this.hiddenRetryMs = HIDDEN_FIRST_RETRY_MS;
    for (const event of page) window.track(event.position, this.publish(event));
    this.published += page.length;
    // A short page reached the end of the log as it was during the read: wait for the next
    // append (or one signalled meanwhile) rather than read again to find nothing.
    if (page.length < wanted && this.known <= window.published) await this.pause(pollMs, true);
  }

  private publish(event: RecordedEvent): Promise<void> {
    const trace = this.options.tracePublish?.(event);
    const published = this.options.bus.publishDurably(toMessage(event, trace?.headers));
    if (trace) {
      published.then(
        () => trace.end(),
        (error: unknown) => trace.end(error),
      );
    }
    return published;
  }

  private async openWindow(): Promise<PublishWindow> {
    const { checkpoints, name } = this.options;
    this.saved = (await checkpoints.load(name)) ?? 0n;
    this.window = this.newWindow(this.saved);
    return this.window;
  }

  private newWindow(start: bigint): PublishWindow {
    const window: PublishWindow = new PublishWindow(this.options.windowSize, start, () => {
      // A window left behind (the lease lost, a failed publish) wakes no one.
      if (this.window === window) this.wake?.();
    });
    return window;
  }

  /** Writes the safe position when it moved, at most every CHECKPOINT_INTERVAL_MS unless forced. */
  private async saveCheckpoint(force: boolean): Promise<void> {
    const safe = this.window?.safe;
    if (safe === undefined || (this.saved !== undefined && safe <= this.saved)) return;
    if (!force && performance.now() - this.savedAt < CHECKPOINT_INTERVAL_MS) return;
    await this.options.checkpoints.save(this.options.name, safe);
    this.saved = safe;
    this.savedAt = performance.now();
  }

  /**
   * Waits `ms`, or less: until stop(), the lease's loss, room in a full window, or, when
   * `untilAppended`, an append (at once if one was signalled since the last read started).
   */
  private pause(ms: number, untilAppended = false): Promise<void> {
    return new Promise((resolve) => {
      if (!this.running || this.lease?.lost.aborted || (untilAppended && this.signalled)) return resolve();
      const timer = setTimeout(() => done(), ms).unref();
      const done = () => {
        clearTimeout(timer);
        if (this.wake === done) {
          this.wake = undefined;
          this.waitingForAppends = false;
        }
        resolve();
      };
      this.wake = done;
      this.waitingForAppends = untilAppended;
    });
  }
}

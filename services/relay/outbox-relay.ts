import { Logger } from "moleculer";
import { MessageBus, OutgoingMessage } from "../../adapters/bus/port";
import { Checkpoints } from "../../adapters/event-store/checkpoints";
import { EventStore, RecordedEvent } from "../../adapters/event-store";
import { PublishWindow } from "./publish-window";

export interface OutboxRelayOptions {
  store: EventStore;
  bus: MessageBus;
  checkpoints: Checkpoints;
  /** Name of the durable checkpoint. */
  name: string;
  pollMs: number;
  batchSize: number;
  /** Messages published and not yet safe at once (see PublishWindow). */
  windowSize: number;
  logger: Logger;
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

/** A stored event as it travels on the bus: routing key = event type, message id = event id. */
export function toMessage(event: RecordedEvent): OutgoingMessage {
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
    headers: { correlationId: String(event.metadata.correlationId), causationId: String(event.metadata.causationId) },
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
 */
export class OutboxRelay {
  private running = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private window: PublishWindow | undefined;
  private saved: bigint | undefined;
  private savedAt = 0;
  private published = 0;

  constructor(private readonly options: OutboxRelayOptions) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /**
   * Stops publishing and writes the checkpoint of what is safe so far, waiting at most
   * STOP_WAIT_MS; the rest is published again after the restart.
   */
  async stop(): Promise<void> {
    this.running = false;
    this.wake?.();
    let timer: NodeJS.Timeout | undefined;
    const givenUp = new Promise<void>((resolve) => (timer = setTimeout(resolve, STOP_WAIT_MS)));
    await Promise.race([this.loop, givenUp]);
    clearTimeout(timer);
  }

  status(): { position: string | null; published: number; inFlight: number } {
    return { position: this.saved?.toString() ?? null, published: this.published, inFlight: this.window?.inFlight ?? 0 };
  }

  private async run(): Promise<void> {
    while (this.running) {
      try {
        await this.step();
      } catch (error) {
        this.options.logger.warn(`relay: ${(error as Error).message}; trying again in ${FAILURE_PAUSE_MS} ms`);
        await this.pause(FAILURE_PAUSE_MS);
      }
    }
    await this.saveCheckpoint(true).catch((error: unknown) =>
      this.options.logger.warn(`relay: the last checkpoint was not written (${(error as Error).message}); publishing again from the previous one`),
    );
  }

  private async step(): Promise<void> {
    const { store, bus, batchSize, pollMs, logger } = this.options;
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
    const page = await store.readAll({ after: window.published, maxCount: Math.min(batchSize, window.room) });
    if (page.length === 0) {
      await this.pause(pollMs);
      return;
    }
    for (const event of page) window.track(event.position, bus.publishDurably(toMessage(event)));
    this.published += page.length;
  }

  private async openWindow(): Promise<PublishWindow> {
    const { checkpoints, name } = this.options;
    this.saved = (await checkpoints.load(name)) ?? 0n;
    this.window = this.newWindow(this.saved);
    return this.window;
  }

  private newWindow(start: bigint): PublishWindow {
    return new PublishWindow(this.options.windowSize, start, () => this.wake?.());
  }

  /** Writes the safe position when it moved, at most every CHECKPOINT_INTERVAL_MS unless forced. */
  private async saveCheckpoint(force: boolean): Promise<void> {
    const safe = this.window?.safe;
    if (safe === undefined || (this.saved !== undefined && safe <= this.saved)) return;
    if (!force && Date.now() - this.savedAt < CHECKPOINT_INTERVAL_MS) return;
    await this.options.checkpoints.save(this.options.name, safe);
    this.saved = safe;
    this.savedAt = Date.now();
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (!this.running) return resolve();
      const timer = setTimeout(resolve, ms).unref();
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

import { Logger } from "moleculer";
import { MessageBus, OutgoingMessage } from "../../adapters/bus/port";
import { Checkpoints } from "../../adapters/event-store/checkpoints";
import { EventStore, RecordedEvent } from "../../adapters/event-store";

export interface OutboxRelayOptions {
  store: EventStore;
  bus: MessageBus;
  checkpoints: Checkpoints;
  /** Name of the durable checkpoint. */
  name: string;
  pollMs: number;
  batchSize: number;
  logger: Logger;
}

/** How long to wait before trying again after the store or the bus failed. */
const FAILURE_PAUSE_MS = 1000;
/**
 * How long stop() waits for the page in flight. A page waiting on an unreachable broker is
 * abandoned: its checkpoint is not moved, so it is published again after the restart.
 */
const STOP_WAIT_MS = 5000;

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
 * The event store is the outbox: the relay reads the global log from its checkpoint,
 * publishes each page and waits for every publisher confirm before it moves the checkpoint.
 * A crash in between publishes the page again after the restart: at least once, never lost.
 */
export class OutboxRelay {
  private running = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private position: bigint | undefined;
  private published = 0;

  constructor(private readonly options: OutboxRelayOptions) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** Finishes the page in flight (published and checkpointed, or left for the next start). */
  async stop(): Promise<void> {
    this.running = false;
    this.wake?.();
    let timer: NodeJS.Timeout | undefined;
    const givenUp = new Promise<void>((resolve) => (timer = setTimeout(resolve, STOP_WAIT_MS)));
    await Promise.race([this.loop, givenUp]);
    clearTimeout(timer);
  }

  status(): { position: string | null; published: number } {
    return { position: this.position?.toString() ?? null, published: this.published };
  }

  private async run(): Promise<void> {
    const { store, bus, checkpoints, name, pollMs, batchSize, logger } = this.options;
    while (this.running) {
      try {
        this.position ??= (await checkpoints.load(name)) ?? 0n;
        const page = await store.readAll({ after: this.position, maxCount: batchSize });
        if (page.length === 0) {
          await this.pause(pollMs);
          continue;
        }
        await Promise.all(page.map((event) => bus.publish(toMessage(event))));
        const last = page[page.length - 1]!.position;
        await checkpoints.save(name, last);
        this.position = last;
        this.published += page.length;
      } catch (error) {
        logger.warn(`relay: ${(error as Error).message}; trying again in ${FAILURE_PAUSE_MS} ms`);
        await this.pause(FAILURE_PAUSE_MS);
      }
    }
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms).unref();
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

/**
 * The messages a relay has published that are not yet safe (publishDurably() has not
 * resolved: unconfirmed by RabbitMQ, or unsettled on the memory bus), in log order. The
 * checkpoint may move up to `safe`: every message at or before it is safe. At most `size`
 * are unsafe at once; the rest of the backlog waits in the event store, which is durable.
 *
 * Only unsafe messages are kept, each with the position published just before it, so memory
 * is O(size) however far one slow message (a retry waiting out its delay) holds the
 * checkpoint back.
 */
export class PublishWindow {
  /** By position; a Map iterates in insertion order, which is log order here. */
  private readonly unsafe = new Map<bigint, bigint>();
  private last: bigint;
  private failure: { error: unknown } | undefined;

  /**
   * @param start the checkpoint the relay starts from
   * @param onRoom called when a full window gets room again, or a publish fails
   */
  constructor(
    private readonly size: number,
    start: bigint,
    private readonly onRoom: () => void = () => undefined,
  ) {
    this.last = start;
  }

  /** How many more messages may be published now. */
  get room(): number {
    return Math.max(0, this.size - this.unsafe.size);
  }

  get inFlight(): number {
    return this.unsafe.size;
  }

  /** The last position published. */
  get published(): bigint {
    return this.last;
  }

  /** The highest position such that it and everything before it is safe. */
  get safe(): bigint {
    const oldest = this.unsafe.values().next();
    return oldest.done ? this.last : oldest.value;
  }

  /** The first publish that failed: the relay starts over from `safe` with a new window. */
  get failed(): { error: unknown } | undefined {
    return this.failure;
  }

  /** `publishing` is the message at `position`, after every position tracked so far. */
  track(position: bigint, publishing: Promise<void>): void {
    if (position <= this.last) throw new Error(`position ${position} is not after ${this.last}`);
    this.unsafe.set(position, this.last);
    this.last = position;
    publishing.then(
      () => {
        const wasFull = this.room === 0;
        this.unsafe.delete(position);
        if (wasFull) this.onRoom();
      },
      (error: unknown) => {
        // Kept unsafe: the checkpoint never passes it, and the relay publishes it again.
        this.failure ??= { error };
        this.onRoom();
      },
    );
  }
}

import { settleWithin } from "../in-flight";
import { Consumer } from "../port";

export interface MemoryConsumerOptions<T> {
  prefetch: number;
  stopTimeoutMs: number;
  handle(item: T): Promise<void>;
  /** Called when handle() resolved (the ack), unless stop() already gave the item back. */
  onSuccess?(item: T): void;
  /** Called when handle() throws, unless stop() already gave the item back. */
  onFailure(item: T, error: unknown): void;
}

/** A FIFO queue whose items go round-robin to the consumers that have room under their prefetch. */
export class MemoryQueue<T> {
  private readonly ready: T[] = [];
  private readonly consumers: MemoryConsumer<T>[] = [];
  private nextConsumer = 0;

  get depth(): number {
    return this.ready.length;
  }

  enqueue(item: T): void {
    this.ready.push(item);
    this.dispatch();
  }

  returnToHead(items: readonly T[]): void {
    this.ready.unshift(...items);
    this.dispatch();
  }

  subscribe(options: MemoryConsumerOptions<T>): MemoryConsumer<T> {
    const consumer = new MemoryConsumer(this, options);
    this.consumers.push(consumer);
    this.dispatch();
    return consumer;
  }

  unsubscribe(consumer: MemoryConsumer<T>): void {
    const index = this.consumers.indexOf(consumer);
    if (index >= 0) this.consumers.splice(index, 1);
  }

  dispatch(): void {
    while (this.ready.length > 0) {
      const consumer = this.nextConsumerWithRoom();
      if (!consumer) return;
      consumer.take(this.ready.shift()!);
    }
  }

  private nextConsumerWithRoom(): MemoryConsumer<T> | undefined {
    for (let tried = 0; tried < this.consumers.length; tried += 1) {
      const consumer = this.consumers[(this.nextConsumer + tried) % this.consumers.length]!;
      if (consumer.hasRoom) {
        this.nextConsumer = (this.nextConsumer + tried + 1) % this.consumers.length;
        return consumer;
      }
    }
    return undefined;
  }
}

interface Taken<T> {
  item: T;
  done?: Promise<void>;
}

/** The in-process counterpart of a channel with its prefetched, unacked messages. */
class MemoryConsumer<T> implements Consumer {
  private readonly taken = new Set<Taken<T>>();
  private stopping?: Promise<void>;
  private paused = false;

  constructor(
    private readonly queue: MemoryQueue<T>,
    private readonly options: MemoryConsumerOptions<T>,
  ) {}

  get hasRoom(): boolean {
    return !this.stopping && !this.paused && this.taken.size < this.options.prefetch;
  }

  /** Like basic.cancel: what was taken is still handled; nothing more is taken until resume(). */
  async pause(): Promise<void> {
    this.paused = true;
  }

  async resume(): Promise<void> {
    if (!this.paused) return;
    this.paused = false;
    this.queue.dispatch();
  }

  take(item: T): void {
    const taken: Taken<T> = { item };
    this.taken.add(taken);
    // Started on a later turn of the event loop, like a delivery off the socket: a handler that
    // keeps failing and requeueing cannot starve timers and I/O.
    setImmediate(() => this.start(taken));
  }

  stop(): Promise<void> {
    this.stopping ??= this.stopTaking();
    return this.stopping;
  }

  private start(taken: Taken<T>): void {
    if (!this.taken.has(taken)) return;
    taken.done = this.options.handle(taken.item).then(
      () => {
        if (this.settle(taken)) this.options.onSuccess?.(taken.item);
      },
      (error: unknown) => {
        if (this.settle(taken)) this.options.onFailure(taken.item, error);
      },
    );
  }

  /** False when stop() gave the item back already: like an ack on a dead channel, it is dropped. */
  private settle(taken: Taken<T>): boolean {
    if (!this.taken.delete(taken)) return false;
    this.queue.dispatch();
    return true;
  }

  private async stopTaking(): Promise<void> {
    this.queue.unsubscribe(this);
    this.giveBack([...this.taken].filter((taken) => !taken.done));
    const running = [...this.taken].map((taken) => taken.done!);
    await settleWithin(running, this.options.stopTimeoutMs);
    this.giveBack([...this.taken]);
  }

  private giveBack(taken: Taken<T>[]): void {
    for (const entry of taken) this.taken.delete(entry);
    this.queue.returnToHead(taken.map((entry) => entry.item));
  }
}

import { Channel, ChannelModel, ConsumeMessage } from "amqplib";
import { AmqpConnection, reconnectDelay } from "./connection";
import { messageOf } from "../failure";
import { settleWithin } from "../in-flight";
import { BusLogger } from "../logger";
import { Consumer } from "../port";

/**
 * The channel a message came on. Delivery tags only mean something on their own channel, so a
 * message is acked there or not at all: once that channel is gone, RabbitMQ redelivers it.
 */
export class DeliveryChannel {
  private open = true;

  constructor(readonly channel: Channel) {
    channel.on("close", () => (this.open = false));
  }

  get isOpen(): boolean {
    return this.open;
  }

  ack(message: ConsumeMessage): void {
    if (this.open) this.channel.ack(message);
  }

  requeue(message: ConsumeMessage): void {
    if (this.open) this.channel.nack(message, false, true);
  }

  async close(): Promise<void> {
    if (!this.open) return;
    this.open = false;
    await this.channel.close().catch(() => undefined); // the connection went first
  }
}

export interface AmqpConsumerOptions {
  connection: AmqpConnection;
  logger: BusLogger;
  /** The full RabbitMQ queue name. */
  queue: string;
  prefetch: number;
  stopTimeoutMs: number;
  /** Declares the queue and what it needs; run on every (re)open, so it must be idempotent. */
  declare(channel: Channel): Promise<void>;
  /** Handles one message and acks, requeues or leaves it on its channel. */
  process(message: ConsumeMessage, channel: DeliveryChannel): Promise<void>;
}

/**
 * A consumer on a channel of its own, with its own prefetch. When the channel is lost (with the
 * connection or alone) it opens a new one and consumes again; RabbitMQ redelivers what was
 * unacked on the old one. pause() cancels the subscription (basic.cancel) and keeps the
 * channel, so what is in flight is still acked on it; resume() subscribes again. A channel
 * reopened while paused is not subscribed.
 */
export class AmqpConsumer implements Consumer {
  /** The channel, and the consumer tag while subscribed. */
  private current?: { channel: DeliveryChannel; consumerTag?: string };
  private readonly inFlight = new Set<Promise<void>>();
  private reopening = false;
  private stopping?: Promise<void>;
  private paused = false;
  /** Subscribing and cancelling one at a time, each bringing the channel to what `paused` says. */
  private switching: Promise<void> = Promise.resolve();

  constructor(private readonly options: AmqpConsumerOptions) {}

  /** Opens the first channel, waiting up to `waitMs` for a connection that is being restored. */
  async start(waitMs: number): Promise<void> {
    const { model } = await this.options.connection.connected(waitMs);
    await this.open(model);
  }

  stop(): Promise<void> {
    this.stopping ??= this.stopConsuming();
    return this.stopping;
  }

  pause(): Promise<void> {
    this.paused = true;
    return this.reconcile();
  }

  resume(): Promise<void> {
    this.paused = false;
    return this.reconcile();
  }

  private reconcile(): Promise<void> {
    this.switching = this.switching.then(async () => {
      const current = this.current;
      if (!current?.channel.isOpen || this.stopping) return;
      const { channel } = current;
      try {
        if (this.paused && current.consumerTag !== undefined) {
          const consumerTag = current.consumerTag;
          current.consumerTag = undefined;
          await channel.channel.cancel(consumerTag);
        } else if (!this.paused && current.consumerTag === undefined) {
          current.consumerTag = await this.subscribe(channel);
        }
      } catch (error) {
        // The channel is gone: the next one is opened by onClosed() in the state `paused` says.
        this.options.logger.warn(`Switching the consumer of ${this.options.queue} failed: ${messageOf(error)}`);
      }
    });
    return this.switching;
  }

  private async subscribe(channel: DeliveryChannel): Promise<string> {
    const { consumerTag } = await channel.channel.consume(this.options.queue, (message) => this.onMessage(message, channel));
    return consumerTag;
  }

  private async open(model: ChannelModel): Promise<void> {
    const { queue, logger } = this.options;
    const channel = new DeliveryChannel(await model.createChannel());
    channel.channel.on("error", (error: unknown) => logger.warn(`RabbitMQ channel of ${queue}: ${messageOf(error)}`));
    channel.channel.on("close", () => this.onClosed(channel));
    try {
      await this.options.declare(channel.channel);
      await channel.channel.prefetch(this.options.prefetch);
      const consumerTag = this.paused ? undefined : await this.subscribe(channel);
      if (!channel.isOpen) throw new Error(`The channel of ${queue} closed while it was being opened`);
      if (this.stopping) {
        await channel.close();
        return;
      }
      this.current = { channel, consumerTag };
      await this.reconcile(); // a pause() or resume() that came while it was opening
    } catch (error) {
      await channel.close();
      throw error;
    }
  }

  private onMessage(message: ConsumeMessage | null, channel: DeliveryChannel): void {
    if (message === null) {
      // RabbitMQ cancelled the consumer (queue deleted, leader moved): start over on a new channel.
      this.options.logger.warn(`RabbitMQ cancelled the consumer of ${this.options.queue}`);
      void channel.close();
      return;
    }
    // Received while stopping: left unacked, RabbitMQ takes it back when the channel closes.
    if (this.stopping) return;
    const { queue, logger } = this.options;
    const processing = this.options
      .process(message, channel)
      .catch((error: unknown) => logger.error(`Processing a message of ${queue} failed: ${messageOf(error)}`))
      .finally(() => this.inFlight.delete(processing));
    this.inFlight.add(processing);
  }

  private onClosed(channel: DeliveryChannel): void {
    if (this.current?.channel !== channel) return;
    this.current = undefined;
    if (!this.stopping) void this.reopen();
  }

  private async reopen(): Promise<void> {
    if (this.reopening) return;
    this.reopening = true;
    for (let failures = 0; !this.stopping; failures += 1) {
      try {
        const { model } = await this.options.connection.connected(Infinity);
        if (this.stopping) break;
        await this.open(model);
        this.options.logger.info(`Consuming ${this.options.queue} again`);
        break;
      } catch (error) {
        if (this.stopping) break;
        this.options.logger.warn(`Resuming the consumer of ${this.options.queue} failed: ${messageOf(error)}`);
        await new Promise((resolve) => setTimeout(resolve, reconnectDelay(failures)).unref());
      }
    }
    this.reopening = false;
  }

  private async stopConsuming(): Promise<void> {
    await this.switching;
    const current = this.current;
    if (current?.channel.isOpen && current.consumerTag !== undefined) {
      await current.channel.channel.cancel(current.consumerTag).catch(() => undefined); // lost meanwhile
    }
    await settleWithin(this.inFlight, this.options.stopTimeoutMs);
    this.current = undefined;
    // Closing gives back what was prefetched but not started, and what a stuck handler holds.
    await current?.channel.close();
  }
}

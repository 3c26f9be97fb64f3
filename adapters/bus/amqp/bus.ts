import { ConsumeMessage } from "amqplib";
import { applicationHeaders } from "../application-headers";
import { AmqpConnection } from "./connection";
import { AmqpConsumer, DeliveryChannel } from "./consumer";
import {
  attemptOf,
  deadLetterCopyOptions,
  encode,
  failureHistoryOf,
  firstAttemptHeaders,
  handBackCopyOptions,
  publishOptions,
  retryCopyOptions,
  toDeadLetter,
  toDelivery,
  topicOf,
} from "./messages";
import { AmqpTopology } from "./topology";
import { ConsumerSet } from "../consumer-set";
import { messageOf, newDeliveryId, recordFailure } from "../failure";
import { BusLogger } from "../logger";
import { ConsumeOptions, Consumer, DeadLetter, HandBack, Handler, MessageBus, OutgoingMessage, RetryPolicy, retryDelay } from "../port";

export interface AmqpMessageBusOptions {
  url: string;
  /** Prefix of every exchange and queue, so that several deployments can share a broker. */
  namespace?: string;
  logger?: BusLogger;
  /**
   * Deliveries without an ack (the consumer died or stopped while handling it) after which
   * RabbitMQ dead-letters a message. Fixed when a queue is first declared.
   */
  deliveryLimit?: number;
  /** How long an operation waits for a lost connection to come back before it fails. */
  reconnectWaitMs?: number;
  /** How long stop() and close() wait for handlers in flight before giving their messages back. */
  stopTimeoutMs?: number;
  /** The jitter source of retry delays (tests pin it to measure the delays). */
  random?: () => number;
}

/**
 * The MessageBus on RabbitMQ (see AmqpTopology for what it declares). It connects on start(),
 * or on its first operation, and reconnects by itself when the connection is lost.
 */
export class AmqpMessageBus implements MessageBus {
  readonly topology: AmqpTopology;
  private readonly connection: AmqpConnection;
  private readonly consumers = new ConsumerSet();
  private readonly logger: BusLogger;
  private readonly reconnectWaitMs: number;
  private readonly stopTimeoutMs: number;
  private readonly random: () => number;

  constructor(options: AmqpMessageBusOptions) {
    const namespace = options.namespace ?? "glitchbuster";
    this.logger = options.logger ?? console;
    this.reconnectWaitMs = options.reconnectWaitMs ?? 30_000;
    this.stopTimeoutMs = options.stopTimeoutMs ?? 30_000;
    this.random = options.random ?? Math.random;
    this.topology = new AmqpTopology(namespace, options.deliveryLimit ?? 10);
    this.connection = new AmqpConnection({
      url: options.url,
      name: `${namespace} pid ${process.pid}`,
      logger: this.logger,
      declare: (channel) => this.topology.declareShared(channel),
    });
  }

  start(): Promise<void> {
    return this.connection.start();
  }

  async publish(message: OutgoingMessage): Promise<void> {
    const options = publishOptions(message.messageId, applicationHeaders(message.headers));
    const { eventsExchange } = this.topology;
    await this.connection.publish(eventsExchange, message.topic, encode(message.payload), options, this.reconnectWaitMs);
  }

  /** RabbitMQ keeps a confirmed persistent message on its disk: the confirm is all it takes. */
  publishDurably(message: OutgoingMessage): Promise<void> {
    return this.publish(message);
  }

  async consume(queue: string, topics: readonly string[], handler: Handler, options: ConsumeOptions): Promise<Consumer> {
    const consumer = new AmqpConsumer({
      connection: this.connection,
      logger: this.logger,
      queue: this.topology.workQueue(queue),
      prefetch: options.prefetch,
      stopTimeoutMs: this.stopTimeoutMs,
      declare: (channel) => this.topology.declareConsumer(channel, queue, topics, options.retry.attempts),
      process: (message, channel) => this.handle(queue, handler, options.retry, message, channel),
    });
    await consumer.start(this.reconnectWaitMs);
    return this.consumers.track(consumer);
  }

  async consumeDeadLetters(handler: (deadLetter: DeadLetter) => Promise<void>): Promise<Consumer> {
    const consumer = new AmqpConsumer({
      connection: this.connection,
      logger: this.logger,
      queue: this.topology.deadLetterQueue,
      prefetch: 1,
      stopTimeoutMs: this.stopTimeoutMs,
      declare: (channel) => this.topology.declareShared(channel),
      process: async (message, channel) => {
        try {
          await handler(toDeadLetter(message, this.topology));
          channel.ack(message);
        } catch (error) {
          this.logger.warn(`A dead letter went back to its queue: ${messageOf(error)}`);
          channel.requeue(message);
        }
      },
    });
    await consumer.start(this.reconnectWaitMs);
    return this.consumers.track(consumer);
  }

  async sendToQueue(queue: string, message: OutgoingMessage): Promise<void> {
    const workQueue = this.topology.workQueue(queue);
    // The default exchange drops a message for a missing queue without a word: ask first.
    await this.connection.withChannel(this.reconnectWaitMs, (channel) => channel.checkQueue(workQueue));
    const options = publishOptions(message.messageId, firstAttemptHeaders(message));
    await this.connection.publish("", workQueue, encode(message.payload), options, this.reconnectWaitMs);
  }

  async queueDepth(queue: string): Promise<number> {
    const workQueue = this.topology.workQueue(queue);
    const checked = await this.connection.withChannel(this.reconnectWaitMs, (channel) => channel.checkQueue(workQueue));
    return checked.messageCount;
  }

  async ping(): Promise<void> {
    const { publisher } = await this.connection.connected(0);
    await publisher.checkExchange(this.topology.eventsExchange);
  }

  async close(): Promise<void> {
    await this.consumers.stopAll();
    await this.connection.close();
  }

  private async handle(queue: string, handler: Handler, policy: RetryPolicy, message: ConsumeMessage, channel: DeliveryChannel): Promise<void> {
    let deliveryId: string | undefined;
    try {
      const delivery = toDelivery(message, queue);
      deliveryId = delivery.deliveryId;
      await handler(delivery);
      channel.ack(message);
    } catch (error) {
      // With its channel gone, the message is RabbitMQ's again: it will be redelivered as it is.
      if (!channel.isOpen) return;
      try {
        if (error instanceof HandBack) await this.handBack(queue, message);
        else await this.retryOrDeadLetter(queue, policy, message, error, deliveryId);
        channel.ack(message);
      } catch (publishError) {
        this.logger.error(`Could not schedule the retry of a message of ${queue}: ${messageOf(publishError)}`);
        channel.requeue(message);
      }
    }
  }

  /**
   * Puts a copy back at the end of the work queue, confirmed before the original is acked. A
   * nack with requeue would count as a delivery, and the quorum queue's delivery limit would
   * dead-letter a message handed back that often.
   */
  private handBack(queue: string, message: ConsumeMessage): Promise<void> {
    const workQueue = this.topology.workQueue(queue);
    return this.connection.publish("", workQueue, message.content, handBackCopyOptions(message), 0);
  }

  /** Publishes the copy that replaces the failed message, confirmed before the original is acked. */
  private retryOrDeadLetter(queue: string, policy: RetryPolicy, message: ConsumeMessage, error: unknown, deliveryId = newDeliveryId()): Promise<void> {
    const failures = recordFailure(failureHistoryOf(message), error, new Date(), deliveryId);
    const attempt = attemptOf(message);
    if (attempt < policy.attempts) {
      const options = retryCopyOptions(message, failures, retryDelay(attempt, policy, this.random));
      return this.connection.publish("", this.topology.retryQueue(queue, attempt), message.content, options, 0);
    }
    const options = deadLetterCopyOptions(message, failures, queue);
    return this.connection.publish(this.topology.deadLetterExchange, topicOf(message), message.content, options, 0);
  }
}

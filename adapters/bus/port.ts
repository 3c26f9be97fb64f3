/**
 * The MessageBus port: durable, at-least-once messaging with redelivery after a jittered
 * delay and dead-lettering after a bounded number of attempts. The AMQP adapter builds this
 * from RabbitMQ's own primitives; the memory adapter has the same semantics in one process.
 */

import { fullJitter } from "./full-jitter";
import type { JsonObject } from "../json";

export type { JsonObject };

export type HeaderValue = string | number | boolean;
export type Headers = Record<string, HeaderValue>;

export interface OutgoingMessage {
  /** Unique per logical message (for domain events: the event id), kept across redeliveries. */
  messageId: string;
  /** Routing key on the topic exchange; for domain events, the event type. */
  topic: string;
  payload: JsonObject;
  /** Application headers, delivered unchanged (keys starting with "x-" are the bus's own). */
  headers?: Headers;
}

export interface Delivery {
  messageId: string;
  topic: string;
  payload: JsonObject;
  /** The application headers the message was published with. */
  headers: Headers;
  /** The consumer's queue name as given to consume(). */
  queue: string;
  /** 1 for the first delivery, n for the n-th attempt after n-1 failures. */
  attempt: number;
  /** When the previous attempt failed (after the first): the redelivery waited since then. */
  lastFailureAt?: string;
  /** This delivery's own id (16 hex digits), new at each delivery: a trace names its span by it. */
  deliveryId: string;
  /** The deliveryId of the failed attempt that this one retries, when it is a retry. */
  retryOf?: string;
}

export interface RetryPolicy {
  /** Deliveries in all, the first included; after the last failure the message is dead-lettered. */
  attempts: number;
  baseMs: number;
  maxMs: number;
}

export interface ConsumeOptions {
  /** Messages handled at once by this consumer. */
  prefetch: number;
  retry: RetryPolicy;
}

export type Handler = (delivery: Delivery) => Promise<void>;

/**
 * Thrown by a handler to give its message back without spending an attempt: the message is
 * delivered again later with the same attempt number and failure history, and is neither
 * retried after a delay nor dead-lettered for it. For a failure that says nothing about the
 * message (the participant's circuit breaker is open): the handler should pause its consumer
 * too, or the message comes straight back to it.
 */
export class HandBack extends Error {
  override readonly name = "HandBack";
}

export interface Consumer {
  /**
   * Stops taking messages (a kill switch): handlers in flight finish and their messages are
   * acked, retried or handed back as usual; the rest waits in the queue. Idempotent.
   */
  pause(): Promise<void>;

  /** Takes messages again after pause(); idempotent. */
  resume(): Promise<void>;

  /**
   * Stops taking messages, waits for the handlers in flight (their messages are then acked,
   * or retried when they throw), and gives back what was received but not started. The wait
   * is bounded (the adapter's stopTimeoutMs): a handler stuck past it has its message given
   * back too, so that one stuck handler cannot hold a shutdown forever.
   */
  stop(): Promise<void>;
}

export interface DeadLetterError {
  name: string;
  message: string;
  /** At most MAX_STACK_LENGTH characters. */
  stack: string;
}

export interface DeadLetter {
  messageId: string;
  topic: string;
  payload: JsonObject;
  headers: Headers;
  originQueue: string;
  error: DeadLetterError;
  attempts: number;
  firstFailureAt: string;
  lastFailureAt: string;
}

export interface MessageBus {
  /** Resolves once the broker has taken responsibility for the message (publisher confirm). */
  publish(message: OutgoingMessage): Promise<void>;

  /**
   * Publishes, resolving once the message no longer depends on this process. On RabbitMQ that
   * is the publisher confirm, as for publish(): the broker's disk has it. The memory bus dies
   * with its process, so there it resolves once every queue the message was routed to has
   * settled it: its consumer acked it, or it was dead-lettered and the dead-letter consumer
   * took it (a message routed to no queue is settled at once). It rejects when the bus closes
   * first. An outbox relay moves its checkpoint past a message only when this resolved.
   */
  publishDurably(message: OutgoingMessage): Promise<void>;

  /**
   * Declares the queue (idempotently), binds it to the topics and calls the handler for each
   * message: ack after it resolves; on a throw, redelivery after a full-jitter delay, and
   * dead-lettering after the last attempt.
   */
  consume(queue: string, topics: readonly string[], handler: Handler, options: ConsumeOptions): Promise<Consumer>;

  /** Takes dead letters one at a time; each is removed once the handler resolves. */
  consumeDeadLetters(handler: (deadLetter: DeadLetter) => Promise<void>): Promise<Consumer>;

  /** Puts a message straight back on a consumer's queue, as a first attempt (DLQ replay). */
  sendToQueue(queue: string, message: OutgoingMessage): Promise<void>;

  /** Messages waiting in a consumer's queue (not counting those delivered and unacked). */
  queueDepth(queue: string): Promise<number>;

  /** Resolves when the broker answers. */
  ping(): Promise<void>;

  close(): Promise<void>;
}

export const MAX_STACK_LENGTH = 2000;

/**
 * The redelivery delay after `failures` failures: full jitter in [0, min(maxMs, baseMs * 2^(failures - 1))],
 * so that messages that failed together do not come back to the participant in a wave.
 */
export function retryDelay(failures: number, policy: RetryPolicy, random: () => number = Math.random): number {
  return fullJitter(failures, { delayMs: policy.baseMs, maxDelayMs: policy.maxMs, factor: 2 }, random);
}

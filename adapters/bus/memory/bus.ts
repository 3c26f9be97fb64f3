import { applicationHeaders } from "../application-headers";
import { ConsumerSet } from "../consumer-set";
import { FailureHistory, newDeliveryId, recordFailure } from "../failure";
import { MemoryQueue } from "./queue";
import {
  ConsumeOptions,
  Consumer,
  DeadLetter,
  Delivery,
  HandBack,
  Handler,
  Headers,
  JsonObject,
  MessageBus,
  OutgoingMessage,
  RetryPolicy,
  retryDelay,
} from "../port";
import { Settlement, Settlements } from "./settlement";
import { topicMatches } from "./topic-pattern";

export interface MemoryMessageBusOptions {
  /** How long stop() and close() wait for handlers in flight before giving their messages back. */
  stopTimeoutMs?: number;
  /** The jitter source of retry delays (tests pin it to measure the delays). */
  random?: () => number;
}

/** A message as a queue holds it: the payload kept serialized so every delivery gets its own copy. */
interface StoredMessage {
  messageId: string;
  topic: string;
  content: string;
  headers: Headers;
  attempt: number;
  failures?: FailureHistory;
  /** The id of its latest delivery (see Delivery.deliveryId). */
  deliveryId?: string;
  /** Set when publishDurably() waits for this message's copies to be settled. */
  settlement?: Settlement;
}

/** A dead letter as the dead-letter queue holds it. */
interface StoredDeadLetter {
  content: string;
  settlement?: Settlement;
}

interface BoundQueue {
  messages: MemoryQueue<StoredMessage>;
  bindings: Set<string>;
}

/** The bus inside one process, with the AMQP adapter's semantics (see port.ts). */
export class MemoryMessageBus implements MessageBus {
  private readonly queues = new Map<string, BoundQueue>();
  private readonly deadLetters = new MemoryQueue<StoredDeadLetter>();
  private readonly settlements = new Settlements();
  private readonly consumers = new ConsumerSet();
  private readonly retryTimers = new Set<NodeJS.Timeout>();
  private readonly stopTimeoutMs: number;
  private readonly random: () => number;
  private closed = false;

  constructor(options: MemoryMessageBusOptions = {}) {
    this.stopTimeoutMs = options.stopTimeoutMs ?? 30_000;
    this.random = options.random ?? Math.random;
  }

  async publish(message: OutgoingMessage): Promise<void> {
    this.route(message);
  }

  /** Resolves once every copy is settled: until then the message lives only in this process. */
  publishDurably(message: OutgoingMessage): Promise<void> {
    try {
      return this.route(message, (copies) => this.settlements.create(copies))?.settled ?? Promise.resolve();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  async consume(queue: string, topics: readonly string[], handler: Handler, options: ConsumeOptions): Promise<Consumer> {
    this.assertOpen();
    const bound = this.queues.get(queue) ?? { messages: new MemoryQueue<StoredMessage>(), bindings: new Set() };
    this.queues.set(queue, bound);
    for (const topic of topics) bound.bindings.add(topic);
    return this.consumers.track(
      bound.messages.subscribe({
        prefetch: options.prefetch,
        stopTimeoutMs: this.stopTimeoutMs,
        handle: (message) => handler(toDelivery(queue, message)),
        onSuccess: (message) => message.settlement?.settleOne(),
        onFailure: (message, error) => this.retryOrDeadLetter(queue, bound, message, error, options.retry),
      }),
    );
  }

  async consumeDeadLetters(handler: (deadLetter: DeadLetter) => Promise<void>): Promise<Consumer> {
    this.assertOpen();
    return this.consumers.track(
      this.deadLetters.subscribe({
        prefetch: 1,
        stopTimeoutMs: this.stopTimeoutMs,
        handle: (deadLetter) => handler(JSON.parse(deadLetter.content) as DeadLetter),
        onSuccess: (deadLetter) => deadLetter.settlement?.settleOne(),
        onFailure: (deadLetter) => this.deadLetters.returnToHead([deadLetter]),
      }),
    );
  }

  async sendToQueue(queue: string, message: OutgoingMessage): Promise<void> {
    this.assertOpen();
    this.boundQueue(queue).messages.enqueue(firstAttempt(message, JSON.stringify(message.payload)));
  }

  async queueDepth(queue: string): Promise<number> {
    this.assertOpen();
    return this.boundQueue(queue).messages.depth;
  }

  async ping(): Promise<void> {
    this.assertOpen();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.consumers.stopAll();
    for (const timer of this.retryTimers) clearTimeout(timer);
    this.retryTimers.clear();
    this.settlements.abandonAll(new Error("The message bus closed before the message was settled"));
  }

  /** Puts a copy of the message on every queue bound to its topic; with `track`, one settlement for them all. */
  private route(message: OutgoingMessage, track?: (copies: number) => Settlement): Settlement | undefined {
    this.assertOpen();
    const targets = [...this.queues.values()].filter((queue) => [...queue.bindings].some((pattern) => topicMatches(pattern, message.topic)));
    if (targets.length === 0) return undefined;
    const content = JSON.stringify(message.payload);
    const settlement = track?.(targets.length);
    for (const queue of targets) queue.messages.enqueue({ ...firstAttempt(message, content), ...(settlement ? { settlement } : {}) });
    return settlement;
  }

  private retryOrDeadLetter(queue: string, bound: BoundQueue, message: StoredMessage, error: unknown, policy: RetryPolicy): void {
    if (error instanceof HandBack) {
      bound.messages.enqueue(message); // as it came: same attempt, same failure history
      return;
    }
    const failures = recordFailure(message.failures, error, new Date(), message.deliveryId ?? newDeliveryId());
    if (message.attempt < policy.attempts) {
      const timer = setTimeout(
        () => {
          this.retryTimers.delete(timer);
          bound.messages.enqueue({ ...message, attempt: message.attempt + 1, failures });
        },
        retryDelay(message.attempt, policy, this.random),
      );
      timer.unref();
      this.retryTimers.add(timer);
      return;
    }
    const deadLetter: DeadLetter = {
      messageId: message.messageId,
      topic: message.topic,
      payload: JSON.parse(message.content) as JsonObject,
      headers: message.headers,
      originQueue: queue,
      error: failures.error,
      attempts: message.attempt,
      firstFailureAt: failures.firstFailureAt,
      lastFailureAt: failures.lastFailureAt,
    };
    this.deadLetters.enqueue({ content: JSON.stringify(deadLetter), ...(message.settlement ? { settlement: message.settlement } : {}) });
  }

  private boundQueue(queue: string): BoundQueue {
    const bound = this.queues.get(queue);
    if (!bound) throw new Error(`Queue ${queue} does not exist: no consumer ever declared it`);
    return bound;
  }

  private assertOpen(): void {
    if (this.closed) throw new Error("The message bus is closed");
  }
}

function firstAttempt(message: OutgoingMessage, content: string): StoredMessage {
  const { messageId, topic } = message;
  return { messageId, topic, content, headers: applicationHeaders(message.headers), attempt: 1 };
}

/** Names the delivery on the message too: its failure, if it fails, is that delivery's. */
function toDelivery(queue: string, message: StoredMessage): Delivery {
  message.deliveryId = newDeliveryId();
  return {
    messageId: message.messageId,
    topic: message.topic,
    payload: JSON.parse(message.content) as JsonObject,
    headers: { ...message.headers },
    queue,
    attempt: message.attempt,
    deliveryId: message.deliveryId,
    ...(message.failures ? { lastFailureAt: message.failures.lastFailureAt } : {}),
    ...(message.failures?.deliveryId ? { retryOf: message.failures.deliveryId } : {}),
  };
}

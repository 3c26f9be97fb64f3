import { Channel } from "amqplib";

/**
 * The RabbitMQ objects of one namespace, all durable and declared idempotently:
 * - `<ns>.events`: topic exchange that publish() writes to;
 * - `<ns>.<queue>`: a consumer's quorum queue, bound to its topics; RabbitMQ dead-letters a
 *   message it delivered `deliveryLimit` times without an ack (a poison message that kills
 *   its consumer) to `<ns>.dead-letters`;
 * - `<ns>.<queue>.retry.<failures>`: quorum delay queues, one per failure count, whose
 *   messages expire after their own TTL and dead-letter back to `<ns>.<queue>`; one queue per
 *   count means a long delay only holds up messages whose own delays are as long;
 * Every dead-lettering here is "at-least-once" (RabbitMQ 3.10+, quorum queues only): a classic
 * queue dead-letters at most once, so a message that expired while its target queue was not
 * yet back after a broker restart was dropped (seen in the soak: orders lost mid-saga).
 * - `<ns>.dead-letters`: fanout exchange and quorum queue of the messages given up on.
 */
/** A quorum queue keeps a dead-lettered message until its target has taken it. */
const AT_LEAST_ONCE_DEAD_LETTERING = { "x-dead-letter-strategy": "at-least-once", "x-overflow": "reject-publish" } as const;

export class AmqpTopology {
  readonly eventsExchange: string;
  readonly deadLetterExchange: string;
  readonly deadLetterQueue: string;

  constructor(
    readonly namespace: string,
    private readonly deliveryLimit: number,
  ) {
    this.eventsExchange = `${namespace}.events`;
    this.deadLetterExchange = `${namespace}.dead-letters`;
    this.deadLetterQueue = `${namespace}.dead-letters`;
  }

  workQueue(queue: string): string {
    return `${this.namespace}.${queue}`;
  }

  retryQueue(queue: string, failures: number): string {
    return `${this.workQueue(queue)}.retry.${failures}`;
  }

  /** The consumer's queue name for a full work queue name, as x-death reports it. */
  queueOf(workQueue: string): string {
    return workQueue.startsWith(`${this.namespace}.`) ? workQueue.slice(this.namespace.length + 1) : workQueue;
  }

  async declareShared(channel: Channel): Promise<void> {
    await channel.assertExchange(this.eventsExchange, "topic", { durable: true });
    await channel.assertExchange(this.deadLetterExchange, "fanout", { durable: true });
    await channel.assertQueue(this.deadLetterQueue, { durable: true, arguments: { "x-queue-type": "quorum" } });
    await channel.bindQueue(this.deadLetterQueue, this.deadLetterExchange, "");
  }

  async declareConsumer(channel: Channel, queue: string, topics: readonly string[], attempts: number): Promise<void> {
    const workQueue = this.workQueue(queue);
    await channel.assertQueue(workQueue, {
      durable: true,
      arguments: {
        "x-queue-type": "quorum",
        "x-dead-letter-exchange": this.deadLetterExchange,
        "x-delivery-limit": this.deliveryLimit,
        ...AT_LEAST_ONCE_DEAD_LETTERING,
      },
    });
    for (const topic of topics) await channel.bindQueue(workQueue, this.eventsExchange, topic);
    for (let failures = 1; failures < attempts; failures += 1) {
      await channel.assertQueue(this.retryQueue(queue, failures), {
        durable: true,
        arguments: {
          "x-queue-type": "quorum",
          "x-dead-letter-exchange": "",
          "x-dead-letter-routing-key": workQueue,
          ...AT_LEAST_ONCE_DEAD_LETTERING,
        },
      });
    }
  }
}

import { Consumer, MessageBus } from "../../adapters/bus/port";

/** Every message a relay publishes: how often each came, and when it first did. */
export class PublishProbe {
  /** Deliveries per message id. */
  readonly seen = new Map<string, number>();
  /** performance.now() of each message's first delivery. */
  readonly firstSeen = new Map<string, number>();
  private consumer: Consumer | undefined;

  constructor(private readonly bus: MessageBus) {}

  async start(): Promise<void> {
    this.consumer = await this.bus.consume(
      "probe",
      ["#"],
      async (delivery) => {
        this.seen.set(delivery.messageId, (this.seen.get(delivery.messageId) ?? 0) + 1);
        if (!this.firstSeen.has(delivery.messageId)) this.firstSeen.set(delivery.messageId, performance.now());
      },
      { prefetch: 100, retry: { attempts: 3, baseMs: 10, maxMs: 50 } },
    );
  }

  deliveries(): number {
    return [...this.seen.values()].reduce((sum, count) => sum + count, 0);
  }

  stop(): Promise<void> {
    return this.consumer?.stop() ?? Promise.resolve();
  }
}

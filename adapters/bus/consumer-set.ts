import { Consumer } from "./port";

/** The consumers a bus has started, so that close() can stop those still running. */
export class ConsumerSet {
  private readonly running = new Set<Consumer>();

  track(consumer: Consumer): Consumer {
    const tracked: Consumer = {
      pause: () => consumer.pause(),
      resume: () => consumer.resume(),
      stop: async () => {
        await consumer.stop();
        this.running.delete(tracked);
      },
    };
    this.running.add(tracked);
    return tracked;
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.running].map((consumer) => consumer.stop()));
  }
}

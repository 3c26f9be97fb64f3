import { randomUUID } from "node:crypto";
import { ANY, EventStore, StreamNotFound } from "./port";

/**
 * Durable positions in the global log, kept as events of a system stream of the same store
 * ($-prefixed, so the global log leaves them out), which works alike on every adapter.
 */
export class Checkpoints {
  constructor(private readonly store: EventStore) {}

  private streamOf(name: string): string {
    return `$checkpoint-${name}`;
  }

  async load(name: string): Promise<bigint | undefined> {
    try {
      const [last] = await this.store.read(this.streamOf(name), { direction: "backwards", maxCount: 1 });
      return last ? BigInt(String(last.data.position)) : undefined;
    } catch (error) {
      if (error instanceof StreamNotFound) return undefined;
      throw error;
    }
  }

  async save(name: string, position: bigint): Promise<void> {
    const id = randomUUID();
    await this.store.append(
      this.streamOf(name),
      [
        {
          id,
          type: "$Checkpoint",
          data: { position: position.toString() },
          metadata: { correlationId: id, causationId: id, occurredAt: new Date().toISOString() },
        },
      ],
      { expectedRevision: ANY },
    );
  }
}

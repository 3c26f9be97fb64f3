import { AppendListener } from "./port";

/** The listeners of one store's onAppended(), each called alone: one that throws stops no other. */
export class AppendSignal {
  private readonly listeners = new Set<AppendListener>();

  get listening(): boolean {
    return this.listeners.size > 0;
  }

  subscribe(listener: AppendListener): () => void {
    // Wrapped, so that the same function subscribed twice is two subscriptions.
    const entry: AppendListener = (position) => listener(position);
    this.listeners.add(entry);
    return () => void this.listeners.delete(entry);
  }

  emit(position: bigint | undefined): void {
    for (const listener of this.listeners) {
      try {
        listener(position);
      } catch {
        // A reader's failure to note a wake is its own: it still polls.
      }
    }
  }
}

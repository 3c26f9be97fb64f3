import {
  ActualRevision,
  AppendOptions,
  AppendResult,
  EventData,
  EventStore,
  NO_STREAM,
  ReadAllOptions,
  ReadOptions,
  RecordedEvent,
  StreamNotFound,
  WrongExpectedRevision,
  acceptsRevision,
} from "./port";
import { findRetriedAppend, selectRevisions } from "./reading";

/** Keeps everything in the process: for tests and for a throwaway embedded run. */
export class MemoryEventStore implements EventStore {
  private readonly log: RecordedEvent[] = [];
  private readonly streams = new Map<string, RecordedEvent[]>();

  async append(stream: string, events: readonly EventData[], options: AppendOptions): Promise<AppendResult> {
    const existing = this.streams.get(stream) ?? [];
    const firstWritten = events.length > 0 ? existing.findIndex((event) => event.id === events[0]!.id) : -1;
    const written = firstWritten < 0 ? [] : existing.slice(firstWritten, firstWritten + events.length);
    const retried = findRetriedAppend(written, events, options.expectedRevision);
    if (retried) return retried;
    const actual: ActualRevision = existing.length === 0 ? NO_STREAM : existing.length - 1;
    if (!acceptsRevision(options.expectedRevision, actual)) {
      throw new WrongExpectedRevision(stream, options.expectedRevision, actual);
    }
    const recorded = events.map((event, index) => ({
      ...structuredClone(event),
      stream,
      revision: existing.length + index,
      position: BigInt(this.log.length + index + 1),
    }));
    this.streams.set(stream, [...existing, ...recorded]);
    this.log.push(...recorded);
    const last = recorded[recorded.length - 1] ?? existing[existing.length - 1];
    return { nextExpectedRevision: last ? last.revision : -1, position: last ? last.position : 0n };
  }

  async read(stream: string, options: ReadOptions = {}): Promise<RecordedEvent[]> {
    const events = this.streams.get(stream);
    if (!events || events.length === 0) throw new StreamNotFound(stream);
    return selectRevisions(events, options).map((event) => structuredClone(event));
  }

  async readAll(options: ReadAllOptions = {}): Promise<RecordedEvent[]> {
    // Positions here are 1, 2, 3...: the event after position p sits at index p.
    const start = Number(options.after ?? 0n);
    const page: RecordedEvent[] = [];
    for (let index = start; index < this.log.length && page.length < (options.maxCount ?? 1000); index += 1) {
      const event = this.log[index]!;
      // System streams ($-prefixed: checkpoints) stay out of the global log, as in EventStoreDB.
      if (!event.stream.startsWith("$")) page.push(structuredClone(event));
    }
    return page;
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {}
}

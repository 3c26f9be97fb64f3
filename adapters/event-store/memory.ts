import { AppendSignal } from "./append-signal";
import { LocalLeases } from "./lease";
import {
  ActualRevision,
  AppendListener,
  AppendOptions,
  AppendResult,
  EventData,
  EventStore,
  Lease,
  NO_STREAM,
  ReadAllOptions,
  ReadOptions,
  RecordedEvent,
  StreamNotFound,
  WrongExpectedRevision,
  acceptsRevision,
  isSystemStream,
} from "./port";
import { findRetriedAppend, selectRevisions } from "./reading";

/** Keeps everything in the process: for tests and for a throwaway embedded run. */
export class MemoryEventStore implements EventStore {
  private readonly log: RecordedEvent[] = [];
  private readonly streams = new Map<string, RecordedEvent[]>();
  private readonly appended = new AppendSignal();
  private readonly leases = new LocalLeases();

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
    if (recorded.length > 0 && !isSystemStream(stream)) this.appended.emit(last!.position);
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
      if (!isSystemStream(event.stream)) page.push(structuredClone(event));
    }
    return page;
  }

  /** Only this process appends here: it signals its own appends. */
  onAppended(listener: AppendListener): () => void {
    return this.appended.subscribe(listener);
  }

  /** One process, so one holder among the users of this store (the relays of one process). */
  async tryAcquireLease(name: string, _ttlMs: number): Promise<Lease | undefined> {
    return this.leases.tryAcquire(name);
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    this.leases.releaseAll();
  }
}

import { EventMetadata, JsonObject, RecordedEvent, isSystemStream } from "./port";

/** An event as it was written to the file: its data and metadata still JSON text. */
export interface WrittenEvent {
  position: bigint;
  id: string;
  stream: string;
  revision: number;
  type: string;
  data: string;
  metadata: string;
}

/** A written event, and the one readers share once the first of them asked for it. */
interface Entry {
  written: WrittenEvent;
  read?: RecordedEvent;
}

/** Events kept: readers (the relay, each projector) follow within a few batches of the end. */
export const RECENT_EVENTS_CAPACITY = 4096;

/**
 * The tail of the global log as this process committed it, so that the readers that follow
 * the log (the relay and the projectors, each reading every event) take what was just written
 * from memory instead of reading and parsing each row again from the file.
 *
 * It holds an unbroken run of positions (system events included, to keep the run unbroken;
 * readers are not given them): a commit that does not start right after the run (another
 * process wrote in between, on a shared file) starts a new run. Positions are never reused and
 * rows never change, so a position inside the run is the row the file holds. Past the run's
 * end, the file may hold later rows of other processes: the reader gets the rest from there.
 *
 * An event is parsed when a reader first asks for it, not when it is written (a process with
 * no reader of the log pays nothing), and frozen (deeply), since every reader is given the
 * same objects.
 */
export class RecentEvents {
  private events: Entry[] = [];

  constructor(private readonly capacity = RECENT_EVENTS_CAPACITY) {}

  /** A commit's events, in the order of their positions. */
  add(committed: readonly WrittenEvent[]): void {
    const first = committed[0];
    if (!first) return;
    const last = this.events[this.events.length - 1];
    if (last && first.position !== last.written.position + 1n) this.events = [];
    for (const written of committed) this.events.push({ written });
    // Trimmed in steps, not one event at a time.
    if (this.events.length > 2 * this.capacity) this.events = this.events.slice(-this.capacity);
  }

  /**
   * Up to `maxCount` events after `after`, readers' events only, and the position to read on
   * from in the file when the run ended first; undefined when `after` is not within the run.
   */
  after(after: bigint, maxCount: number): { events: RecordedEvent[]; end: bigint } | undefined {
    const first = this.events[0];
    if (!first || after < first.written.position - 1n) return undefined;
    const end = this.events[this.events.length - 1]!.written.position;
    if (after >= end) return undefined;
    const events: RecordedEvent[] = [];
    for (let index = Number(after - first.written.position) + 1; index < this.events.length && events.length < maxCount; index += 1) {
      const entry = this.events[index]!;
      if (!isSystemStream(entry.written.stream)) events.push((entry.read ??= deepFreeze(readWritten(entry.written))));
    }
    return { events, end };
  }
}

/** The event as readers get it, parsed from what was written. */
export function readWritten({ position, id, stream, revision, type, data, metadata }: WrittenEvent): RecordedEvent {
  return { id, type, data: JSON.parse(data) as JsonObject, metadata: JSON.parse(metadata) as EventMetadata, stream, revision, position };
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

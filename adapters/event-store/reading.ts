import { AppendResult, EventData, ExpectedRevision, ReadOptions, RecordedEvent } from "./port";

/** Applies a stream read's direction, start and count to the events of one stream, oldest first. */
export function selectRevisions(events: readonly RecordedEvent[], options: ReadOptions): RecordedEvent[] {
  const maxCount = options.maxCount ?? Number.MAX_SAFE_INTEGER;
  if (options.direction === "backwards") {
    const from = Math.min(options.fromRevision ?? events.length - 1, events.length - 1);
    return events.slice(Math.max(0, from - maxCount + 1), from + 1).reverse();
  }
  const from = options.fromRevision ?? 0;
  return events.slice(from, from + maxCount);
}

/**
 * Recognises an append that repeats one already written (same event ids, same expected
 * revision), as EventStoreDB does, so that a caller retrying after a lost answer gets the
 * first answer instead of a conflict or a duplicate.
 * `written` holds the stream's events from the one that has the first new event's id on
 * (at least as many as `events`), or nothing when no event has that id.
 */
export function findRetriedAppend(
  written: readonly RecordedEvent[],
  events: readonly EventData[],
  expectedRevision: ExpectedRevision,
): AppendResult | undefined {
  const first = written[0];
  if (!first || written.length < events.length) return undefined;
  if (typeof expectedRevision === "number" && expectedRevision !== first.revision - 1) return undefined;
  if (expectedRevision === "no_stream" && first.revision !== 0) return undefined;
  if (events.some((event, index) => written[index]?.id !== event.id)) return undefined;
  const last = written[events.length - 1]!;
  return { nextExpectedRevision: last.revision, position: last.position };
}

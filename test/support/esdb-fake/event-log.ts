/**
 * The fake server's storage: streams whose revisions count from 0 and one global log ordered
 * by position. It knows nothing of gRPC, so the append and read rules can be read in one place.
 */

export interface ProposedEvent {
  id: string;
  /** "type" and "content-type", as the client sends them in the proposed message's metadata. */
  systemMetadata: ReadonlyMap<string, string>;
  data: Uint8Array;
  customMetadata: Uint8Array;
}

export interface StoredEvent extends ProposedEvent {
  stream: string;
  revision: number;
  /** Commit and prepare position: the fake writes one record per event, so they are equal. */
  position: bigint;
  /** 100-ns ticks since the Unix epoch, the unit of the server's "created" metadata. */
  createdTicks: bigint;
}

export type ExpectedState = { kind: "any" } | { kind: "no_stream" } | { kind: "stream_exists" } | { kind: "revision"; revision: number };

/** The stream's last revision, undefined when it has no event. */
export type CurrentRevision = number | undefined;

export type AppendOutcome =
  /** revision and position are undefined only for an empty append to a stream with no event. */
  { kind: "success"; revision: CurrentRevision; position: bigint | undefined } | { kind: "wrong_expected_version"; current: CurrentRevision };

const TICKS_PER_MILLISECOND = 10_000n;
/** Bytes a record takes in the log besides its payload; only there so positions look like offsets. */
const RECORD_HEADER_BYTES = 64n;

export class EventLog {
  private readonly streams = new Map<string, StoredEvent[]>();
  private readonly all: StoredEvent[] = [];
  private logEnd = 0n;

  /**
   * Checks the expected state and writes in one synchronous step: nothing else runs on the
   * event loop in between, so appends to a stream are serialized and the check cannot go stale,
   * as they are on the server.
   */
  append(stream: string, expected: ExpectedState, events: readonly ProposedEvent[]): AppendOutcome {
    const existing = this.streams.get(stream) ?? [];
    const current = existing.length > 0 ? existing.length - 1 : undefined;

    const retried = this.findRetriedAppend(existing, expected, events);
    if (retried) return { kind: "success", revision: retried.revision, position: retried.position };
    if (!accepts(expected, current)) return { kind: "wrong_expected_version", current };
    // An empty append changes nothing; the server answers with the stream's current state.
    if (events.length === 0) {
      return { kind: "success", revision: current, position: existing[existing.length - 1]?.position };
    }

    const createdTicks = BigInt(Date.now()) * TICKS_PER_MILLISECOND;
    const written = events.map((event, index) => {
      // Positions grow by the record's size like byte offsets in the server's transaction log:
      // never dense and never 0, so no caller can get away with computing them.
      this.logEnd += RECORD_HEADER_BYTES + BigInt(event.data.length + event.customMetadata.length);
      return { ...event, stream, revision: existing.length + index, position: this.logEnd, createdTicks };
    });
    this.streams.set(stream, [...existing, ...written]);
    this.all.push(...written);
    const last = written[written.length - 1]!;
    return { kind: "success", revision: last.revision, position: last.position };
  }

  /** Undefined when the stream has no event. */
  readStream(stream: string): readonly StoredEvent[] | undefined {
    return this.streams.get(stream);
  }

  /** Every event of every stream in position order. */
  readAll(): readonly StoredEvent[] {
    return this.all;
  }

  /**
   * The server's idempotency: when the proposed ids are already the stream's events at the
   * place the expected state points to (anywhere for any/stream_exists), the append is a retry
   * of one that succeeded; it writes nothing and answers with the last of those events.
   */
  private findRetriedAppend(existing: readonly StoredEvent[], expected: ExpectedState, events: readonly ProposedEvent[]): StoredEvent | undefined {
    if (events.length === 0) return undefined;
    const first =
      expected.kind === "no_stream" ? 0 : expected.kind === "revision" ? expected.revision + 1 : existing.findIndex((stored) => stored.id === events[0]!.id);
    if (first < 0 || first + events.length > existing.length) return undefined;
    const same = events.every((event, index) => existing[first + index]!.id === event.id);
    return same ? existing[first + events.length - 1] : undefined;
  }
}

function accepts(expected: ExpectedState, current: CurrentRevision): boolean {
  switch (expected.kind) {
    case "any":
      return true;
    case "no_stream":
      return current === undefined;
    case "stream_exists":
      return current !== undefined;
    case "revision":
      return current === expected.revision;
  }
}

import {
  ANY as CLIENT_ANY,
  BACKWARDS,
  END,
  FORWARDS,
  KurrentDBClient,
  NO_STREAM as CLIENT_NO_STREAM,
  START,
  STREAM_EXISTS as CLIENT_STREAM_EXISTS,
  StreamNotFoundError,
  WrongExpectedVersionError,
  jsonEvent,
  type AllStreamResolvedEvent,
  type AppendStreamState,
  type CurrentStreamState,
  type ResolvedEvent,
} from "@kurrent/kurrentdb-client";
import { AppendSignal } from "./append-signal";
import {
  ANY,
  ActualRevision,
  AppendListener,
  AppendOptions,
  AppendResult,
  EventData,
  EventMetadata,
  EventStore,
  ExpectedRevision,
  JsonObject,
  Lease,
  NO_STREAM,
  ReadAllOptions,
  ReadOptions,
  RecordedEvent,
  STREAM_EXISTS,
  StreamNotFound,
  WrongExpectedRevision,
  isSystemStream,
} from "./port";
import { tryAcquireStreamLease } from "./stream-lease";

const DEFAULT_READ_ALL_COUNT = 1000;
/** What servers before 22.6 send as the commit position of an event read from a stream. */
const UNKNOWN_POSITION = 2n ** 64n - 1n;

/** esdb:// (deprecated, still in users' configuration) or kurrentdb://, each with its +discover form. */
const SCHEME = /^(esdb|kurrentdb)(\+discover)?:\/\//;

export function isEventStoreDbUrl(url: string): boolean {
  return SCHEME.test(url);
}

/**
 * The URL in its kurrentdb:// form, which the client takes without a deprecation warning; the
 * rest of the string means the same under both schemes.
 */
export function kurrentDbConnectionString(url: string): string {
  if (!SCHEME.test(url)) throw new Error(`${url}: expected esdb://, kurrentdb:// or their +discover forms`);
  return url.replace(SCHEME, (_scheme, _name: string, discover = "") => `kurrentdb${discover}://`);
}

/**
 * The production EventStore: EventStoreDB (KurrentDB) through its gRPC client. Positions are
 * the commit positions of the server's transaction log. Stream reads carry them from server
 * 22.6 on.
 */
export class EventStoreDbEventStore implements EventStore {
  private readonly client: KurrentDBClient;
  private readonly appended = new AppendSignal();
  private readonly leases = new Set<Lease>();

  /** connectionString: esdb://, kurrentdb:// or their +discover forms. */
  constructor(connectionString: string) {
    this.client = KurrentDBClient.connectionString(kurrentDbConnectionString(connectionString));
  }

  async append(stream: string, events: readonly EventData[], options: AppendOptions): Promise<AppendResult> {
    const proposed = events.map(({ id, type, data, metadata }) => jsonEvent({ id, type, data, metadata }));
    try {
      const result = await this.client.appendToStream(stream, proposed, {
        streamState: clientStreamState(options.expectedRevision),
      });
      // The server only leaves the position out for an append of nothing to a stream of nothing.
      if (!result.position) return { nextExpectedRevision: -1, position: 0n };
      if (events.length > 0 && !isSystemStream(stream)) this.appended.emit(result.position.commit);
      return { nextExpectedRevision: Number(result.nextExpectedRevision), position: result.position.commit };
    } catch (error) {
      if (error instanceof WrongExpectedVersionError) {
        throw new WrongExpectedRevision(stream, options.expectedRevision, actualRevision(error.actualState));
      }
      throw error;
    }
  }

  async read(stream: string, options: ReadOptions = {}): Promise<RecordedEvent[]> {
    const backwards = options.direction === "backwards";
    const from = options.fromRevision === undefined ? (backwards ? END : START) : BigInt(options.fromRevision);
    try {
      const resolved = await collect(
        this.client.readStream(stream, {
          direction: backwards ? BACKWARDS : FORWARDS,
          fromRevision: from,
          maxCount: options.maxCount ?? Number.MAX_SAFE_INTEGER,
        }),
      );
      return resolved.map(recordedEvent);
    } catch (error) {
      // The server answers a missing stream inside the read; the client turns it into this error.
      if (error instanceof StreamNotFoundError) throw new StreamNotFound(stream);
      throw error;
    }
  }

  /**
   * The server has no "after" and no way to leave out system events on a plain $all read (the
   * client sends no filter), so this reads pages from the last position seen, drops the event at
   * that position (a read from a position includes it) and the system events, until it has
   * enough events or the log ends.
   */
  async readAll(options: ReadAllOptions = {}): Promise<RecordedEvent[]> {
    const maxCount = options.maxCount ?? DEFAULT_READ_ALL_COUNT;
    const kept: RecordedEvent[] = [];
    let after = options.after;
    while (kept.length < maxCount) {
      // One more than still needed, since the event at `after` comes back first.
      const requested = maxCount - kept.length + 1;
      const page = await collect(
        this.client.readAll({
          fromPosition: after === undefined ? START : { commit: after, prepare: after },
          direction: FORWARDS,
          maxCount: requested,
        }),
      );
      for (const resolved of page) {
        const position = resolved.event?.position.commit;
        if (position === undefined || (after !== undefined && position <= after)) continue;
        if (!isSystemEvent(resolved) && kept.length < maxCount) kept.push(recordedEvent(resolved));
      }
      if (page.length < requested) break;
      after = page[page.length - 1]?.event?.position.commit;
    }
    return kept;
  }

  /**
   * Appends of this process only: those of other processes are found by the reader's poll. A
   * catch-up subscription to $all would wake it for every append, at the price of a stream held
   * open per reader; the gRPC fake the tests run against does not serve subscriptions.
   */
  onAppended(listener: AppendListener): () => void {
    return this.appended.subscribe(listener);
  }

  /** EventStoreDB has no lock: the lease is a system stream written with optimistic concurrency. */
  async tryAcquireLease(name: string, ttlMs: number): Promise<Lease | undefined> {
    const lease = await tryAcquireStreamLease(this, name, ttlMs);
    if (lease) {
      this.leases.add(lease);
      lease.lost.addEventListener("abort", () => this.leases.delete(lease), { once: true });
    }
    return lease;
  }

  /** Reads one event of $all: cheap, and fails when the server does not answer. */
  async ping(): Promise<void> {
    await collect(this.client.readAll({ maxCount: 1 }));
  }

  /** Gives up the leases held here first, so that another process takes them at once. */
  async close(): Promise<void> {
    await Promise.all([...this.leases].map((lease) => lease.release().catch(() => undefined)));
    await this.client.dispose();
  }
}

function clientStreamState(expected: ExpectedRevision): AppendStreamState {
  switch (expected) {
    case NO_STREAM:
      return CLIENT_NO_STREAM;
    case STREAM_EXISTS:
      return CLIENT_STREAM_EXISTS;
    case ANY:
      return CLIENT_ANY;
    default:
      return BigInt(expected);
  }
}

function actualRevision(actual: CurrentStreamState): ActualRevision {
  return actual === CLIENT_NO_STREAM ? NO_STREAM : Number(actual);
}

/** Events the server writes for itself ($stats, $settings, links...), which callers never see. */
function isSystemEvent(resolved: AllStreamResolvedEvent): boolean {
  const event = resolved.event;
  return !event || event.type.startsWith("$") || event.streamId.startsWith("$");
}

function recordedEvent(resolved: ResolvedEvent | AllStreamResolvedEvent): RecordedEvent {
  const event = resolved.event;
  // Without resolveLinkTos every entry has its event; a link would be a system event.
  if (!event) throw new Error("EventStoreDB returned an entry without an event");
  if (!event.isJson) throw new Error(`event ${event.id} of ${event.streamId} is not JSON`);
  if (!event.position || event.position.commit === UNKNOWN_POSITION) {
    throw new Error(`event ${event.id} of ${event.streamId} came without its log position: EventStoreDB 22.6 or later is needed`);
  }
  return {
    stream: event.streamId,
    revision: Number(event.revision),
    position: event.position.commit,
    id: event.id,
    type: event.type,
    // Written by this adapter with jsonEvent from a JsonObject and an EventMetadata.
    data: event.data as JsonObject,
    metadata: event.metadata as EventMetadata,
  };
}

async function collect<T>(read: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of read) items.push(item);
  return items;
}

import { randomUUID } from "node:crypto";
import {
  ActualRevision,
  AppendResult,
  EventMetadata,
  EventStore,
  ExpectedRevision,
  JsonObject,
  NO_STREAM,
  RecordedEvent,
  StreamNotFound,
  WrongExpectedRevision,
} from "./port";
import type { Decider } from "../../domain/decider";
import { LruCache } from "./lru-cache";

export interface Loaded<State> {
  state: State;
  /** The expected revision of the next append: NO_STREAM while the stream has no event. */
  revision: ExpectedRevision;
  events: RecordedEvent[];
}

export interface Handled<Event, State> {
  state: State;
  events: Event[];
  attempts: number;
}

/** How many times a command is decided again after another writer moved the stream. */
export const DEFAULT_CONFLICT_ATTEMPTS = 5;

/** How many aggregates a repository keeps folded in memory (least recently used dropped first). */
export const DEFAULT_CACHE_LIMIT = 10_000;

/** A folded stream: its state and the revision it was folded up to (NO_STREAM: no event). */
interface Snapshot<State> {
  readonly state: State;
  readonly revision: ActualRevision;
}

interface Decision<Event, State> {
  basis: Snapshot<State>;
  events: Event[];
}

function isAhead(revision: ActualRevision, of: ActualRevision): boolean {
  return (revision === NO_STREAM ? -1 : revision) > (of === NO_STREAM ? -1 : of);
}

/**
 * Decides a command against an aggregate and appends the result with the revision it was
 * decided on. When another writer got there first, the command is decided again on the new
 * state: the decider, not a lock, settles the race.
 *
 * Folded aggregates stay in a bounded cache (per repository, so per process), so a command
 * usually reads nothing; the cache is never trusted further than the store lets it be:
 * - a decision that appends carries the cached revision as expected revision: when another
 *   writer (in this process or another) moved the stream, the append fails with
 *   WrongExpectedRevision, the entry is dropped and the command decided again on a fresh read;
 * - a decision that appends nothing (a rejection or a no-op) is checked first by reading the
 *   events after the cached revision: when there are some, it is decided again on them;
 * - a stream unknown here is taken to be new when the command, decided on the initial state,
 *   appends something: the append, expecting no stream, checks it (no read, no StreamNotFound).
 * `load` always reads the store: queries see every process's writes as before.
 * States are shared between the cache and callers: deciders and callers must not mutate them.
 */
export class AggregateRepository<Command, Event extends { type: string; data: object }, State> {
  private readonly cache: LruCache<string, Snapshot<State>>;

  constructor(
    private readonly store: EventStore,
    private readonly decider: Decider<Command, Event, State>,
    private readonly streamPrefix: string,
    private readonly conflictAttempts = DEFAULT_CONFLICT_ATTEMPTS,
    cacheLimit = DEFAULT_CACHE_LIMIT,
  ) {
    this.cache = new LruCache(cacheLimit);
  }

  streamOf(id: string): string {
    return `${this.streamPrefix}-${id}`;
  }

  /** How many aggregates are held in memory (at most the cache limit). */
  get cachedCount(): number {
    return this.cache.size;
  }

  /** The aggregate as the store has it now, with its events. */
  async load(id: string): Promise<Loaded<State>> {
    const stream = this.streamOf(id);
    const events = await this.readFrom(stream, 0);
    const state = this.fold(this.decider.initialState(), events);
    const revision = events.length === 0 ? NO_STREAM : events[events.length - 1]!.revision;
    this.remember(stream, { state, revision });
    return { state, revision, events };
  }

  async handle(id: string, command: Command, metadata: EventMetadata): Promise<Handled<Event, State>> {
    const stream = this.streamOf(id);
    for (let attempt = 1; ; attempt += 1) {
      const { basis, events } = (attempt === 1 ? this.assumeNew(stream, command) : undefined) ?? (await this.decide(stream, command));
      if (events.length === 0) return { state: basis.state, events, attempts: attempt };
      let appended: AppendResult;
      try {
        appended = await this.store.append(
          stream,
          events.map((event) => ({
            id: randomUUID(),
            type: event.type,
            data: event.data as JsonObject,
            metadata: { ...metadata },
          })),
          { expectedRevision: basis.revision },
        );
      } catch (error) {
        if (!(error instanceof WrongExpectedRevision)) throw error;
        // The stream moved after `basis`: drop it (unless a writer of this process already
        // replaced it) so that the next attempt reads the store.
        if (this.cache.peek(stream) === basis) this.cache.delete(stream);
        if (attempt >= this.conflictAttempts) throw error;
        continue;
      }
      const state = events.reduce((state, event) => this.decider.evolve(state, event), basis.state);
      this.remember(stream, { state, revision: appended.nextExpectedRevision });
      return { state, events, attempts: attempt };
    }
  }

  /**
   * For a stream this repository holds nothing of: the decision on the initial state, when it
   * appends something (the append then checks that the stream is indeed new).
   */
  private assumeNew(stream: string, command: Command): Decision<Event, State> | undefined {
    if (this.cache.peek(stream) !== undefined) return undefined;
    const basis: Snapshot<State> = { state: this.decider.initialState(), revision: NO_STREAM };
    try {
      const events = this.decider.decide(command, basis.state);
      return events.length > 0 ? { basis, events } : undefined;
    } catch {
      return undefined; // decided again on what the store holds
    }
  }

  private async decide(stream: string, command: Command): Promise<Decision<Event, State>> {
    const cached = this.cache.get(stream);
    if (cached === undefined) {
      const basis = await this.refresh(stream, undefined);
      return { basis, events: this.decider.decide(command, basis.state) };
    }
    let events: Event[] | undefined;
    let rejection: unknown;
    try {
      events = this.decider.decide(command, cached.state);
    } catch (error) {
      rejection = error;
    }
    if (events !== undefined && events.length > 0) return { basis: cached, events };
    // Nothing to append, so nothing for the store to check: check the cached state first.
    const basis = await this.refresh(stream, cached);
    if (basis === cached) {
      if (events === undefined) throw rejection;
      return { basis, events };
    }
    return { basis, events: this.decider.decide(command, basis.state) };
  }

  /** The stream caught up from `from` (from the start without it); `from` itself when it had not moved. */
  private async refresh(stream: string, from: Snapshot<State> | undefined): Promise<Snapshot<State>> {
    const after = from === undefined || from.revision === NO_STREAM ? -1 : from.revision;
    const events = await this.readFrom(stream, after + 1);
    if (from !== undefined && events.length === 0) return from;
    const state = this.fold(from === undefined || after < 0 ? this.decider.initialState() : from.state, events);
    const revision = events.length === 0 ? NO_STREAM : events[events.length - 1]!.revision;
    return this.remember(stream, { state, revision });
  }

  /** Events from `fromRevision` on; none when the stream has no event. */
  private async readFrom(stream: string, fromRevision: number): Promise<RecordedEvent[]> {
    try {
      return await this.store.read(stream, fromRevision === 0 ? undefined : { fromRevision });
    } catch (error) {
      if (error instanceof StreamNotFound) return [];
      throw error;
    }
  }

  private fold(state: State, events: readonly RecordedEvent[]): State {
    return events.reduce((current, event) => this.decider.evolve(current, { type: event.type, data: event.data } as Event), state);
  }

  /** Keeps `snapshot` unless the cache holds a later revision of the stream; returns what it keeps. */
  private remember(stream: string, snapshot: Snapshot<State>): Snapshot<State> {
    const held = this.cache.peek(stream);
    if (held !== undefined && isAhead(held.revision, snapshot.revision)) return held;
    this.cache.set(stream, snapshot);
    return snapshot;
  }
}

import { randomUUID } from "node:crypto";
import {
  EventMetadata,
  EventStore,
  ExpectedRevision,
  JsonObject,
  NO_STREAM,
  RecordedEvent,
  StreamNotFound,
  WrongExpectedRevision,
} from "../adapters/event-store";

/** What the domain's deciders look like, seen from the plumbing. */
export interface Decider<Command, Event extends { type: string; data: object }, State> {
  decide(command: Command, state: State): Event[];
  evolve(state: State, event: Event): State;
  initialState(): State;
}

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

/**
 * Loads an aggregate by folding its stream, decides a command against it and appends the
 * result with the revision it was decided on. When another writer got there first, the command
 * is decided again on the new state: the decider, not a lock, settles the race.
 */
export class AggregateRepository<Command, Event extends { type: string; data: object }, State> {
  constructor(
    private readonly store: EventStore,
    private readonly decider: Decider<Command, Event, State>,
    private readonly streamPrefix: string,
    private readonly conflictAttempts = DEFAULT_CONFLICT_ATTEMPTS,
  ) {}

  streamOf(id: string): string {
    return `${this.streamPrefix}-${id}`;
  }

  async load(id: string): Promise<Loaded<State>> {
    let events: RecordedEvent[];
    try {
      events = await this.store.read(this.streamOf(id));
    } catch (error) {
      if (error instanceof StreamNotFound) return { state: this.decider.initialState(), revision: NO_STREAM, events: [] };
      throw error;
    }
    const state = events.reduce(
      (current, event) => this.decider.evolve(current, { type: event.type, data: event.data } as Event),
      this.decider.initialState(),
    );
    return { state, revision: events[events.length - 1]!.revision, events };
  }

  async handle(
    id: string,
    command: Command,
    metadata: EventMetadata,
  ): Promise<Handled<Event, State>> {
    for (let attempt = 1; ; attempt += 1) {
      const { state, revision } = await this.load(id);
      const events = this.decider.decide(command, state);
      if (events.length === 0) return { state, events, attempts: attempt };
      try {
        await this.store.append(
          this.streamOf(id),
          events.map((event) => ({
            id: randomUUID(),
            type: event.type,
            data: event.data as JsonObject,
            metadata: { ...metadata },
          })),
          { expectedRevision: revision },
        );
        return { state: events.reduce(this.decider.evolve, state), events, attempts: attempt };
      } catch (error) {
        if (!(error instanceof WrongExpectedRevision) || attempt >= this.conflictAttempts) throw error;
      }
    }
  }
}

import { EventStore, RecordedEvent } from "../adapters/event-store";

export interface ListPage<State> {
  items: State[];
  nextCursor: string | null;
}

export class InvalidCursor extends Error {
  override readonly name = "InvalidCursor";
}

export interface AggregateListOptions<Event, State> {
  /** Streams of the aggregate: `<prefix>-<id>`. */
  streamPrefix: string;
  initialState(): State;
  evolve(state: State, event: Event): State;
  /** Whether a state is listed (an aggregate that has not begun is not). */
  exists(state: State): boolean;
}

/**
 * Every aggregate of one kind, newest first, folded from the global log with the aggregate's
 * own `evolve`: a read model that is rebuilt by reading the log again. A cursor is the opaque
 * global position of the last item of a page.
 */
export class AggregateList<Event, State> {
  private readonly states = new Map<string, { state: State; position: bigint }>();
  /** Stream ids in the order their first event was appended, which is the order of positions. */
  private readonly byCreation: string[] = [];
  private lastPosition = 0n;
  private catchingUp: Promise<void> | undefined;

  constructor(private readonly options: AggregateListOptions<Event, State>) {}

  /**
   * Folds what the global log gained since the last call. Called before each query, so that
   * a query sees every event appended before it; one catch-up runs at a time.
   */
  catchUp(store: EventStore): Promise<void> {
    this.catchingUp ??= (async () => {
      try {
        for (let page = await store.readAll({ after: this.lastPosition }); page.length > 0; page = await store.readAll({ after: this.lastPosition })) {
          page.forEach((event) => this.apply(event));
        }
      } finally {
        this.catchingUp = undefined;
      }
    })();
    return this.catchingUp;
  }

  get position(): bigint {
    return this.lastPosition;
  }

  apply(event: RecordedEvent): void {
    this.lastPosition = event.position;
    const prefix = `${this.options.streamPrefix}-`;
    if (!event.stream.startsWith(prefix)) return;
    const id = event.stream.slice(prefix.length);
    const known = this.states.get(id);
    const state = this.options.evolve(known?.state ?? this.options.initialState(), { type: event.type, data: event.data } as Event);
    if (!known) this.byCreation.push(id);
    this.states.set(id, { state, position: known?.position ?? event.position });
  }

  query(limit: number, cursor: string | undefined, matches: (state: State) => boolean = () => true): ListPage<State> {
    const before = cursor === undefined ? undefined : decodeCursor(cursor);
    const page: State[] = [];
    let lastPosition = 0n;
    for (let index = this.byCreation.length - 1; index >= 0; index -= 1) {
      const entry = this.states.get(this.byCreation[index]!)!;
      if (before !== undefined && entry.position >= before) continue;
      if (!this.options.exists(entry.state) || !matches(entry.state)) continue;
      if (page.length === limit) return { items: page, nextCursor: encodeCursor(lastPosition) };
      page.push(entry.state);
      lastPosition = entry.position;
    }
    return { items: page, nextCursor: null };
  }

  /** Every listed state that matches, in no particular order. */
  filter(matches: (state: State) => boolean): State[] {
    return [...this.states.values()].map(({ state }) => state).filter((state) => this.options.exists(state) && matches(state));
  }
}

function encodeCursor(position: bigint): string {
  return Buffer.from(`p:${position}`).toString("base64url");
}

function decodeCursor(cursor: string): bigint {
  const match = /^p:(\d{1,19})$/.exec(Buffer.from(cursor, "base64url").toString("utf8"));
  if (!match) throw new InvalidCursor("cursor is not one this API gave");
  return BigInt(match[1]!);
}

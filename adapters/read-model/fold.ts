import type { RecordedEvent } from "../event-store";
import type { ViewDefinition } from "./port";

/** A row as an adapter read it back: its key and its state. */
export interface StoredRow<State> {
  key: bigint;
  state: State;
}

/** A row to insert or replace. */
export interface RowChange {
  id: string;
  key: bigint;
  /** Position of the last event folded into it. */
  position: bigint;
  /** The state as JSON: what a list answers, byte for byte. */
  document: string;
  columns: Readonly<Record<string, string | null>>;
}

export interface Folded {
  changes: RowChange[];
  /** What to add to each count (negative: rows that left that value). */
  countDeltas: Map<string, number>;
  /** Position of the last event of the batch: the checkpoint after it. */
  position: bigint;
}

/** The aggregate a stream belongs to in this view, or undefined for another kind's stream. */
export function aggregateIdOf<State>(definition: ViewDefinition<State>, stream: string): string | undefined {
  const prefix = `${definition.streamPrefix}-`;
  return stream.startsWith(prefix) ? stream.slice(prefix.length) : undefined;
}

/** The aggregates a batch touches, each once: the rows an adapter loads before folding. */
export function aggregateIds<State>(definition: ViewDefinition<State>, events: readonly RecordedEvent[]): string[] {
  const ids = new Set<string>();
  for (const event of events) {
    const id = aggregateIdOf(definition, event.stream);
    if (id !== undefined) ids.add(id);
  }
  return [...ids];
}

interface Working<State> {
  state: State;
  key: bigint;
  position: bigint;
  /** The counted value of the row as stored before this batch; undefined when it had no row. */
  countedBefore: string | undefined;
  listedBefore: boolean;
  changed: boolean;
}

/**
 * Folds a batch of the global log (in position order) into the rows it touches, given those
 * rows as stored (`loaded`, by aggregate id). Pure: an adapter runs it inside its transaction,
 * between reading the rows and writing the changes, so a failure here writes nothing.
 */
export function fold<State>(definition: ViewDefinition<State>, events: readonly RecordedEvent[], loaded: ReadonlyMap<string, StoredRow<State>>): Folded {
  const last = events[events.length - 1];
  if (!last) throw new Error(`read model ${definition.name}: an empty batch has no position`);
  const working = new Map<string, Working<State>>();
  for (const event of events) {
    const id = aggregateIdOf(definition, event.stream);
    if (id === undefined) continue;
    let current = working.get(id);
    if (!current) {
      const stored = loaded.get(id);
      current = stored
        ? { state: stored.state, key: stored.key, position: 0n, countedBefore: countedValue(definition, stored.state), listedBefore: true, changed: false }
        : { state: definition.initialState(), key: event.position, position: 0n, countedBefore: undefined, listedBefore: false, changed: false };
      working.set(id, current);
    }
    const next = definition.evolve(current.state, { type: event.type, data: event.data });
    if (!definition.exists(next)) {
      if (current.listedBefore || current.changed) throw new Error(`read model ${definition.name}: ${event.stream} stopped existing at ${event.type}`);
      continue;
    }
    current.state = next;
    current.position = event.position;
    current.changed = true;
  }

  const changes: RowChange[] = [];
  const countDeltas = new Map<string, number>();
  const add = (value: string, delta: number) => countDeltas.set(value, (countDeltas.get(value) ?? 0) + delta);
  for (const [id, row] of working) {
    if (!row.changed) continue;
    const document = JSON.stringify(row.state);
    const columns = definition.columnsOf(row.state);
    const counted = countedValue(definition, row.state);
    if (row.countedBefore !== undefined) add(row.countedBefore, -1);
    add(counted, 1);
    changes.push({ id, key: row.key, position: row.position, document, columns });
  }
  for (const [value, delta] of countDeltas) if (delta === 0) countDeltas.delete(value);
  return { changes, countDeltas, position: last.position };
}

function countedValue<State>(definition: ViewDefinition<State>, state: State): string {
  const value = definition.columnsOf(state)[definition.countedBy];
  if (value === null || value === undefined) throw new Error(`read model ${definition.name}: a listed row has no ${definition.countedBy}`);
  return value;
}

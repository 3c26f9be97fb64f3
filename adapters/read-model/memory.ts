import { randomBytes } from "node:crypto";
import type { RecordedEvent } from "../event-store";
import { RowChange, StoredRow, aggregateIds, fold } from "./fold";
import {
  ListRequest,
  ListResult,
  ReadModelStore,
  RebuildLost,
  RebuildRunning,
  RebuildState,
  View,
  ViewSealed,
  ViewDefinition,
  checkDefinition,
  filterColumns,
} from "./port";

interface Row {
  id: string;
  key: bigint;
  document: string;
  columns: Readonly<Record<string, string | null>>;
}

/** One table of a view: rows by id, their keys in order, the counts. */
class Table {
  readonly byId = new Map<string, Row>();
  /** Keys in ascending order, and the row of each. */
  readonly keys: bigint[] = [];
  readonly byKey = new Map<bigint, Row>();
  readonly counts = new Map<string, number>();
  position = 0n;

  load<State>(ids: readonly string[]): Map<string, StoredRow<State>> {
    const loaded = new Map<string, StoredRow<State>>();
    for (const id of ids) {
      const row = this.byId.get(id);
      if (row) loaded.set(id, { key: row.key, state: JSON.parse(row.document) as State });
    }
    return loaded;
  }

  /** Cannot fail: everything that could (folding, JSON) was done before. */
  write(changes: readonly RowChange[], countDeltas: ReadonlyMap<string, number>, position: bigint): void {
    for (const change of changes) {
      const row: Row = { id: change.id, key: change.key, document: change.document, columns: change.columns };
      if (!this.byId.has(change.id)) this.keys.splice(upperBound(this.keys, change.key), 0, change.key);
      this.byId.set(change.id, row);
      this.byKey.set(change.key, row);
    }
    for (const [value, delta] of countDeltas) this.counts.set(value, (this.counts.get(value) ?? 0) + delta);
    this.position = position;
  }

  rows(): number {
    return this.byId.size;
  }
}

/** The index of the first key above `key`. */
function upperBound(keys: readonly bigint[], key: bigint): number {
  let low = 0;
  let high = keys.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (keys[middle]! <= key) low = middle + 1;
    else high = middle;
  }
  return low;
}

/** What a view's tables hold, shared by every View of that name (as a database's tables are). */
class Tables {
  live = new Table();
  next: Table | undefined;
  rebuild: RebuildState | undefined;
  sealedUntil = 0;
}

class MemoryView<State> implements View<State> {
  constructor(
    readonly definition: ViewDefinition<State>,
    private readonly tables: Tables,
  ) {}

  private get live(): Table {
    return this.tables.live;
  }

  async checkpoint(): Promise<bigint> {
    return this.live.position;
  }

  async apply(from: bigint, events: readonly RecordedEvent[]): Promise<bigint> {
    if (Date.now() < this.tables.sealedUntil) throw new ViewSealed(this.definition.name);
    return this.applyTo(this.live, from, events);
  }

  private applyTo(table: Table, from: bigint, events: readonly RecordedEvent[]): bigint {
    if (table.position !== from || events.length === 0) return table.position;
    const { changes, countDeltas, position } = fold(this.definition, events, table.load<State>(aggregateIds(this.definition, events)));
    table.write(changes, countDeltas, position);
    return position;
  }

  async list({ filter, before, limit }: ListRequest): Promise<ListResult<State>> {
    const wanted = filterColumns(this.definition, filter);
    const { keys, byKey } = this.live;
    const rows: ListResult<State>["rows"] = [];
    const start = before === undefined ? keys.length : upperBound(keys, before - 1n);
    for (let index = start - 1; index >= 0; index -= 1) {
      const row = byKey.get(keys[index]!)!;
      if (!wanted.every(([column, value]) => row.columns[column] === value)) continue;
      if (rows.length === limit) return { rows, more: true };
      rows.push({ key: row.key, state: JSON.parse(row.document) as State });
    }
    return { rows, more: false };
  }

  async counts(): Promise<Record<string, number>> {
    return Object.fromEntries([...this.live.counts].filter(([, count]) => count !== 0));
  }

  async startRebuild(owner: string, target: bigint, { now, staleAfterMs }: { now: Date; staleAfterMs: number }): Promise<RebuildState> {
    const running = this.tables.rebuild;
    if (running?.status === "rebuilding" && running.owner !== owner && now.getTime() - running.heartbeatAt < staleAfterMs) {
      throw new RebuildRunning(this.definition.name, running.owner);
    }
    this.tables.next = new Table();
    this.tables.rebuild = {
      status: "rebuilding",
      owner,
      position: 0n,
      first: null,
      target,
      startedAt: now.toISOString(),
      finishedAt: null,
      heartbeatAt: now.getTime(),
      error: null,
    };
    return { ...this.tables.rebuild };
  }

  private owned(owner: string): { rebuild: RebuildState; next: Table } {
    const { rebuild, next } = this.tables;
    if (!rebuild || !next || rebuild.status !== "rebuilding" || rebuild.owner !== owner) throw new RebuildLost(this.definition.name);
    return { rebuild, next };
  }

  async applyToRebuild(owner: string, from: bigint, events: readonly RecordedEvent[], now: Date): Promise<bigint> {
    const { rebuild, next } = this.owned(owner);
    const position = this.applyTo(next, from, events);
    rebuild.position = position;
    rebuild.first ??= events[0]?.position ?? null;
    rebuild.heartbeatAt = now.getTime();
    return position;
  }

  async seal(owner: string, now: Date, forMs: number): Promise<void> {
    this.owned(owner);
    this.tables.sealedUntil = now.getTime() + forMs;
  }

  async swap(owner: string, now: Date): Promise<boolean> {
    const { rebuild, next } = this.owned(owner);
    this.tables.sealedUntil = 0;
    if (next.position < this.live.position) return false;
    this.tables.live = next;
    this.tables.next = undefined;
    rebuild.status = "done";
    rebuild.finishedAt = now.toISOString();
    return true;
  }

  async endRebuild(owner: string, status: "failed" | "interrupted", error: string | null, now: Date): Promise<void> {
    const { rebuild } = this.owned(owner);
    this.tables.next = undefined;
    this.tables.sealedUntil = 0;
    Object.assign(rebuild, { status, error, finishedAt: now.toISOString() });
  }

  async rebuildState(): Promise<(RebuildState & { rows: number }) | undefined> {
    const { rebuild, next, live } = this.tables;
    if (!rebuild) return undefined;
    const table = rebuild.status === "rebuilding" ? next : rebuild.status === "done" ? live : undefined;
    return { ...rebuild, rows: table?.rows() ?? 0 };
  }
}

/**
 * Read models in the process, beside the memory event store (whose log starts empty at each
 * start too): the same semantics as the databases', so that tests and a throwaway embedded
 * run behave like them. Memory grows with the rows, as the memory log does with the events.
 */
export class MemoryReadModelStore implements ReadModelStore {
  private readonly views = new Map<string, Tables>();
  private readonly key = randomBytes(32);

  async view<State>(definition: ViewDefinition<State>): Promise<View<State>> {
    checkDefinition(definition);
    let tables = this.views.get(definition.name);
    if (!tables) {
      tables = new Tables();
      this.views.set(definition.name, tables);
    }
    return new MemoryView(definition, tables);
  }

  async secret(): Promise<Buffer> {
    return this.key;
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {}
}

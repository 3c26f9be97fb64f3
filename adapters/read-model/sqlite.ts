import Database from "better-sqlite3";
import { randomBytes } from "node:crypto";
import type { RecordedEvent } from "../event-store";
import { Checkpointer, checkpointInWorker, openSqlite } from "../sqlite-file";
import { StoredRow, aggregateIds, fold } from "./fold";
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
import { ProjectionRow, TableNames, projectionRowToState, suffix, tableNames } from "./tables";

export interface SqliteReadModelOptions {
  synchronous?: "normal" | "full";
}

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS projections (
    name TEXT PRIMARY KEY,
    position INTEGER NOT NULL DEFAULT 0,
    rebuild_status TEXT,
    rebuild_owner TEXT,
    rebuild_position INTEGER,
    rebuild_first INTEGER,
    rebuild_target INTEGER,
    rebuild_started_at TEXT,
    rebuild_finished_at TEXT,
    rebuild_heartbeat_at INTEGER,
    rebuild_error TEXT,
    sealed_until INTEGER NOT NULL DEFAULT 0
  );
  CREATE TABLE IF NOT EXISTS projection_settings (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
`;

/**
 * Read models in an SQLite file: the event store's own (the default), or READ_MODEL_URL's.
 * A connection of its own, in WAL mode like the event store's; a batch is one IMMEDIATE
 * transaction, run synchronously, so nothing else of this process touches the connection
 * while it is open, and other processes wait on the file's lock (busy_timeout).
 */
export class SqliteReadModelStore implements ReadModelStore {
  private readonly db: Database.Database;
  private readonly checkpointer: Checkpointer | undefined;

  constructor(path: string, options: SqliteReadModelOptions = {}) {
    this.db = openSqlite(path, options.synchronous, SCHEMA);
    // Off the event loop, with the event store's connection when the file is the same.
    this.checkpointer = checkpointInWorker(this.db, path);
  }

  async view<State>(definition: ViewDefinition<State>): Promise<View<State>> {
    checkDefinition(definition);
    return new SqliteView(this.db, definition);
  }

  async secret(): Promise<Buffer> {
    this.db.prepare("INSERT OR IGNORE INTO projection_settings (name, value) VALUES ('cursor_key', ?)").run(randomBytes(32).toString("base64"));
    const { value } = this.db.prepare<[], { value: string }>("SELECT value FROM projection_settings WHERE name = 'cursor_key'").get()!;
    return Buffer.from(value, "base64");
  }

  async ping(): Promise<void> {
    this.db.prepare("SELECT 1").get();
  }

  async close(): Promise<void> {
    await this.checkpointer?.stop();
    if (this.db.open) this.db.close();
  }
}

type Row = { first_position: bigint; document: string };

interface FoldStatements {
  load: Database.Statement<[string], Row>;
  upsert: Database.Statement<unknown[]>;
  count: Database.Statement<[string, number]>;
  moveCheckpoint: Database.Statement<[bigint, string]>;
}

class SqliteView<State> implements View<State> {
  private readonly names: TableNames;
  private readonly statements;
  private readonly applyTransaction;
  private readonly listStatements = new Map<string, Database.Statement<unknown[], Row>>();
  private readonly foldStatements = new Map<"live" | "rebuild", FoldStatements>();

  constructor(
    private readonly db: Database.Database,
    readonly definition: ViewDefinition<State>,
  ) {
    this.names = tableNames(definition.name);
    db.transaction(() => {
      db.prepare("INSERT OR IGNORE INTO projections (name) VALUES (?)").run(definition.name);
      if (!this.exists(this.names.live)) this.createTables(this.names.live, this.names.liveCounts);
    }).immediate();
    const projection = db.prepare<[string], ProjectionRow>("SELECT * FROM projections WHERE name = ?").safeIntegers(true);
    this.statements = {
      projection,
      checkpoint: db.prepare<[string], { position: bigint }>("SELECT position FROM projections WHERE name = ?").safeIntegers(true),
      counts: db.prepare<[], { value: string; n: number }>(`SELECT value, n FROM ${this.names.liveCounts} WHERE n <> 0`),
      moveRebuildCheckpoint: db.prepare<[bigint, bigint, number, string]>(
        "UPDATE projections SET rebuild_position = ?, rebuild_first = coalesce(rebuild_first, ?), rebuild_heartbeat_at = ? WHERE name = ?",
      ),
    };
    this.applyTransaction = db.transaction(
      (target: "live" | "rebuild", owner: string | undefined, from: bigint, events: readonly RecordedEvent[], now: Date | undefined) => {
        const row = projection.get(definition.name)!;
        if (target === "rebuild" && (row.rebuild_status !== "rebuilding" || row.rebuild_owner !== owner)) throw new RebuildLost(definition.name);
        if (target === "live" && Date.now() < Number(row.sealed_until)) throw new ViewSealed(definition.name);
        const checkpoint = BigInt(target === "live" ? row.position : (row.rebuild_position ?? 0));
        if (checkpoint !== from || events.length === 0) return checkpoint;
        const { load, upsert, count, moveCheckpoint } = this.writesTo(target);
        const loaded = new Map<string, StoredRow<State>>();
        for (const id of aggregateIds(definition, events)) {
          const stored = load.get(id);
          if (stored) loaded.set(id, { key: stored.first_position, state: JSON.parse(stored.document) as State });
        }
        const { changes, countDeltas, position } = fold(definition, events, loaded);
        const columns = definition.columns;
        for (const change of changes)
          upsert.run(change.key, change.id, change.position, change.document, ...columns.map((column) => change.columns[column] ?? null));
        for (const [value, delta] of countDeltas) count.run(value, delta);
        // Last: a failure up to here leaves rows and checkpoint as they were.
        if (target === "live") moveCheckpoint.run(position, definition.name);
        else this.statements.moveRebuildCheckpoint.run(position, events[0]!.position, now!.getTime(), definition.name);
        return position;
      },
    );
  }

  /**
   * The statements that fold a batch into the table served or the one being rebuilt, prepared
   * once per target. They name tables, not table objects: SQLite prepares a statement again by
   * its text after a swap renames the tables or a rebuild creates its table anew.
   */
  private writesTo(target: "live" | "rebuild"): FoldStatements {
    let statements = this.foldStatements.get(target);
    if (!statements) {
      const [table, counts] = target === "live" ? [this.names.live, this.names.liveCounts] : [this.names.next, this.names.nextCounts];
      const { columns } = this.definition;
      statements = {
        load: this.db.prepare<[string], Row>(`SELECT first_position, document FROM ${table} WHERE id = ?`).safeIntegers(true),
        upsert: this.db.prepare<unknown[]>(
          `INSERT INTO ${table} (first_position, id, last_position, document${columns.map((column) => `, ${column}`).join("")})
           VALUES (?, ?, ?, ?${columns.map(() => ", ?").join("")})
           ON CONFLICT (first_position) DO UPDATE SET last_position = excluded.last_position, document = excluded.document${columns
             .map((column) => `, ${column} = excluded.${column}`)
             .join("")}`,
        ),
        count: this.db.prepare<[string, number]>(`INSERT INTO ${counts} (value, n) VALUES (?, ?) ON CONFLICT (value) DO UPDATE SET n = n + excluded.n`),
        moveCheckpoint: this.db.prepare<[bigint, string]>("UPDATE projections SET position = ? WHERE name = ?"),
      };
      this.foldStatements.set(target, statements);
    }
    return statements;
  }

  private exists(table: string): boolean {
    return this.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(table) !== undefined;
  }

  /**
   * The rows, keyed by the position of the aggregate's first event as the rowid (the list
   * order), and one index per filter column ending with the key. Index names carry a suffix
   * of their own: they outlive the renames of a swap, and the next rebuild's must not collide.
   */
  private createTables(table: string, counts: string): void {
    const tag = suffix();
    const { columns } = this.definition;
    this.db.exec(`
      CREATE TABLE ${table} (
        first_position INTEGER PRIMARY KEY,
        id TEXT NOT NULL,
        last_position INTEGER NOT NULL,
        document TEXT NOT NULL${columns.map((column) => `,\n        ${column} TEXT`).join("")}
      );
      CREATE UNIQUE INDEX ${table}_id_${tag} ON ${table} (id);
      ${columns.map((column) => `CREATE INDEX ${table}_${column}_${tag} ON ${table} (${column}, first_position);`).join("\n")}
      CREATE TABLE ${counts} (value TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;
    `);
  }

  async checkpoint(): Promise<bigint> {
    return this.statements.checkpoint.get(this.definition.name)!.position;
  }

  async apply(from: bigint, events: readonly RecordedEvent[]): Promise<bigint> {
    return this.applyTransaction.immediate("live", undefined, from, events, undefined);
  }

  async list({ filter, before, limit }: ListRequest): Promise<ListResult<State>> {
    const wanted = filterColumns(this.definition, filter);
    const shape = `${wanted.map(([column]) => column).join(",")}|${before === undefined ? "" : "before"}`;
    let statement = this.listStatements.get(shape);
    if (!statement) {
      const conditions = [...wanted.map(([column]) => `${column} = ?`), ...(before === undefined ? [] : ["first_position < ?"])];
      statement = this.db
        .prepare<unknown[], Row>(
          `SELECT first_position, document FROM ${this.names.live}
           ${conditions.length > 0 ? `WHERE ${conditions.join(" AND ")}` : ""}
           ORDER BY first_position DESC LIMIT ?`,
        )
        .safeIntegers(true);
      this.listStatements.set(shape, statement);
    }
    const found = statement.all(...wanted.map(([, value]) => value), ...(before === undefined ? [] : [before]), limit + 1);
    return {
      rows: found.slice(0, limit).map((row) => ({ key: row.first_position, state: JSON.parse(row.document) as State })),
      more: found.length > limit,
    };
  }

  async counts(): Promise<Record<string, number>> {
    return Object.fromEntries(this.statements.counts.all().map(({ value, n }) => [value, n]));
  }

  async startRebuild(owner: string, target: bigint, { now, staleAfterMs }: { now: Date; staleAfterMs: number }): Promise<RebuildState> {
    const { name } = this.definition;
    return this.db
      .transaction(() => {
        const row = this.statements.projection.get(name)!;
        if (row.rebuild_status === "rebuilding" && row.rebuild_owner !== owner && now.getTime() - Number(row.rebuild_heartbeat_at) < staleAfterMs) {
          throw new RebuildRunning(name, row.rebuild_owner ?? "?");
        }
        this.db.exec(`DROP TABLE IF EXISTS ${this.names.next}; DROP TABLE IF EXISTS ${this.names.nextCounts};`);
        this.createTables(this.names.next, this.names.nextCounts);
        this.db
          .prepare(
            `UPDATE projections SET rebuild_status = 'rebuilding', rebuild_owner = ?, rebuild_position = 0, rebuild_first = NULL,
               rebuild_target = ?, rebuild_started_at = ?, rebuild_finished_at = NULL, rebuild_heartbeat_at = ?, rebuild_error = NULL
             WHERE name = ?`,
          )
          .run(owner, target, now.toISOString(), now.getTime(), name);
        return projectionRowToState(this.statements.projection.get(name)!)!;
      })
      .immediate();
  }

  async applyToRebuild(owner: string, from: bigint, events: readonly RecordedEvent[], now: Date): Promise<bigint> {
    return this.applyTransaction.immediate("rebuild", owner, from, events, now);
  }

  async seal(owner: string, now: Date, forMs: number): Promise<void> {
    this.db
      .transaction(() => {
        this.owned(owner);
        this.db.prepare("UPDATE projections SET sealed_until = ? WHERE name = ?").run(now.getTime() + forMs, this.definition.name);
      })
      .immediate();
  }

  async swap(owner: string, now: Date): Promise<boolean> {
    const { name } = this.definition;
    return this.db
      .transaction(() => {
        const row = this.owned(owner);
        this.db.prepare("UPDATE projections SET sealed_until = 0 WHERE name = ?").run(name);
        if (BigInt(row.rebuild_position ?? 0) < BigInt(row.position)) return false;
        this.db.exec(`
          DROP TABLE ${this.names.live};
          DROP TABLE ${this.names.liveCounts};
          ALTER TABLE ${this.names.next} RENAME TO ${this.names.live};
          ALTER TABLE ${this.names.nextCounts} RENAME TO ${this.names.liveCounts};
        `);
        this.db
          .prepare("UPDATE projections SET position = rebuild_position, rebuild_status = 'done', rebuild_finished_at = ?, sealed_until = 0 WHERE name = ?")
          .run(now.toISOString(), name);
        return true;
      })
      .immediate();
  }

  async endRebuild(owner: string, status: "failed" | "interrupted", error: string | null, now: Date): Promise<void> {
    this.db
      .transaction(() => {
        this.owned(owner);
        this.db.exec(`DROP TABLE IF EXISTS ${this.names.next}; DROP TABLE IF EXISTS ${this.names.nextCounts};`);
        this.db
          .prepare("UPDATE projections SET rebuild_status = ?, rebuild_error = ?, rebuild_finished_at = ?, sealed_until = 0 WHERE name = ?")
          .run(status, error, now.toISOString(), this.definition.name);
      })
      .immediate();
  }

  private owned(owner: string): ProjectionRow {
    const row = this.statements.projection.get(this.definition.name)!;
    if (row.rebuild_status !== "rebuilding" || row.rebuild_owner !== owner) throw new RebuildLost(this.definition.name);
    return row;
  }

  async rebuildState(): Promise<(RebuildState & { rows: number }) | undefined> {
    const row = this.statements.projection.get(this.definition.name)!;
    const state = projectionRowToState(row);
    if (!state) return undefined;
    const counts = state.status === "rebuilding" ? this.names.nextCounts : state.status === "done" ? this.names.liveCounts : undefined;
    const rows =
      counts && this.exists(counts) ? Number(this.db.prepare<[], { rows: number | null }>(`SELECT sum(n) AS rows FROM ${counts}`).get()!.rows ?? 0) : 0;
    return { ...state, rows };
  }
}

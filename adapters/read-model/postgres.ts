import { randomBytes } from "node:crypto";
import { DatabaseError, Pool, PoolClient } from "pg";
import { inTransaction } from "../postgres-databases";
import type { RecordedEvent } from "../event-store";
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

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS projections (
    name text PRIMARY KEY,
    position bigint NOT NULL DEFAULT 0,
    rebuild_status text,
    rebuild_owner text,
    rebuild_position bigint,
    rebuild_first bigint,
    rebuild_target bigint,
    rebuild_started_at text,
    rebuild_finished_at text,
    rebuild_heartbeat_at bigint,
    rebuild_error text,
    sealed_until bigint NOT NULL DEFAULT 0
  );
  CREATE TABLE IF NOT EXISTS projection_settings (name text PRIMARY KEY, value text NOT NULL);
`;

/** An arbitrary key of ours, not the event store's: nodes creating the same tables at once take turns. */
const SCHEMA_LOCK_KEY = 4_735_117_301_123n;
const POOL_SIZE = 5;
const UNDEFINED_TABLE = "42P01";

/**
 * Read models in PostgreSQL: the event store's database (the default), or READ_MODEL_URL's.
 * A pool of its own. A batch is one transaction that first locks its view's row of
 * `projections` (FOR UPDATE): projectors of several nodes, a rebuild and a swap take turns on
 * it, and the one that finds the checkpoint moved writes nothing.
 */
export class PostgresReadModelStore implements ReadModelStore {
  private readonly pool: Pool;
  private closing: Promise<void> | undefined;

  constructor(url: string) {
    this.pool = new Pool({ connectionString: url, max: POOL_SIZE, application_name: "glitchbuster-read-models" });
    // An idle connection that the server closes is reported here; the next query opens another.
    this.pool.on("error", () => undefined);
  }

  async view<State>(definition: ViewDefinition<State>): Promise<View<State>> {
    checkDefinition(definition);
    const view = new PostgresView(this.pool, definition);
    await inTransaction(this.pool, async (client) => {
      await client.query("SELECT pg_advisory_xact_lock($1)", [SCHEMA_LOCK_KEY.toString()]);
      await client.query(SCHEMA);
      await client.query("INSERT INTO projections (name) VALUES ($1) ON CONFLICT (name) DO NOTHING", [definition.name]);
      if (!(await tableExists(client, tableNames(definition.name).live))) await view.createTables(client, "live");
    });
    return view;
  }

  async secret(): Promise<Buffer> {
    const { rows } = await this.pool.query<{ value: string }>(
      `WITH created AS (
         INSERT INTO projection_settings (name, value) VALUES ('cursor_key', $1) ON CONFLICT (name) DO NOTHING RETURNING value
       )
       SELECT value FROM created UNION ALL SELECT value FROM projection_settings WHERE name = 'cursor_key'`,
      [randomBytes(32).toString("base64")],
    );
    return Buffer.from(rows[0]!.value, "base64");
  }

  async ping(): Promise<void> {
    await this.pool.query("SELECT 1");
  }

  close(): Promise<void> {
    this.closing ??= this.pool.end();
    return this.closing;
  }
}

async function tableExists(client: PoolClient, table: string): Promise<boolean> {
  const { rows } = await client.query<{ found: string | null }>("SELECT to_regclass($1)::text AS found", [table]);
  return rows[0]!.found !== null;
}

class PostgresView<State> implements View<State> {
  private readonly names: TableNames;

  constructor(
    private readonly pool: Pool,
    readonly definition: ViewDefinition<State>,
  ) {
    this.names = tableNames(definition.name);
  }

  /**
   * The rows, keyed by the position of the aggregate's first event (the list order), and one
   * index per filter column ending with the key. Index and constraint names carry a suffix
   * of their own: they keep their names through the renames of a swap, and the next
   * rebuild's must not collide with them.
   */
  async createTables(client: PoolClient, which: "live" | "next"): Promise<void> {
    const [table, counts] = which === "live" ? [this.names.live, this.names.liveCounts] : [this.names.next, this.names.nextCounts];
    const tag = suffix();
    const { columns } = this.definition;
    await client.query(`
      CREATE TABLE ${table} (
        first_position bigint NOT NULL,
        id text NOT NULL,
        last_position bigint NOT NULL,
        -- json, not jsonb: a list answers the document with its keys in the order they were written.
        document json NOT NULL${columns.map((column) => `,\n        ${column} text`).join("")},
        CONSTRAINT ${table}_key_${tag} PRIMARY KEY (first_position),
        CONSTRAINT ${table}_id_${tag} UNIQUE (id)
      );
      ${columns.map((column) => `CREATE INDEX ${table}_${column}_${tag} ON ${table} (${column}, first_position);`).join("\n")}
      CREATE TABLE ${counts} (value text NOT NULL, n bigint NOT NULL, CONSTRAINT ${counts}_key_${tag} PRIMARY KEY (value));
    `);
  }

  private async lockProjection(client: PoolClient): Promise<ProjectionRow> {
    const { rows } = await client.query<ProjectionRow>("SELECT * FROM projections WHERE name = $1 FOR UPDATE", [this.definition.name]);
    return rows[0]!;
  }

  private async owned(client: PoolClient, owner: string): Promise<ProjectionRow> {
    const row = await this.lockProjection(client);
    if (row.rebuild_status !== "rebuilding" || row.rebuild_owner !== owner) throw new RebuildLost(this.definition.name);
    return row;
  }

  async checkpoint(): Promise<bigint> {
    const { rows } = await this.pool.query<{ position: string }>("SELECT position FROM projections WHERE name = $1", [this.definition.name]);
    return BigInt(rows[0]!.position);
  }

  apply(from: bigint, events: readonly RecordedEvent[]): Promise<bigint> {
    return inTransaction(this.pool, async (client) => {
      const row = await this.lockProjection(client);
      if (Date.now() < Number(row.sealed_until)) throw new ViewSealed(this.definition.name);
      const checkpoint = BigInt(row.position);
      if (checkpoint !== from || events.length === 0) return checkpoint;
      const position = await this.write(client, this.names.live, this.names.liveCounts, events);
      await client.query("UPDATE projections SET position = $2 WHERE name = $1", [this.definition.name, position.toString()]);
      return position;
    });
  }

  /** Folds a batch into a table and its counts; the caller moves the checkpoint after, in the same transaction. */
  private async write(client: PoolClient, table: string, counts: string, events: readonly RecordedEvent[]): Promise<bigint> {
    const { definition } = this;
    const { rows } = await client.query<{ id: string; first_position: string; document: string }>(
      `SELECT id, first_position::text, document::text FROM ${table} WHERE id = ANY($1::text[])`,
      [aggregateIds(definition, events)],
    );
    const loaded = new Map<string, StoredRow<State>>(
      rows.map((row) => [row.id, { key: BigInt(row.first_position), state: JSON.parse(row.document) as State }]),
    );
    const { changes, countDeltas, position } = fold(definition, events, loaded);
    if (changes.length > 0) {
      const { columns } = definition;
      await client.query(
        `INSERT INTO ${table} (first_position, id, last_position, document${columns.map((column) => `, ${column}`).join("")})
         SELECT first_position, id, last_position, document::json${columns.map((column) => `, ${column}`).join("")}
         FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[]${columns.map((_, index) => `, $${index + 5}::text[]`).join("")})
           AS batch(first_position, id, last_position, document${columns.map((column) => `, ${column}`).join("")})
         ON CONFLICT (first_position) DO UPDATE SET last_position = excluded.last_position, document = excluded.document${columns
           .map((column) => `, ${column} = excluded.${column}`)
           .join("")}`,
        [
          changes.map((change) => change.key.toString()),
          changes.map((change) => change.id),
          changes.map((change) => change.position.toString()),
          changes.map((change) => change.document),
          ...columns.map((column) => changes.map((change) => change.columns[column] ?? null)),
        ],
      );
    }
    if (countDeltas.size > 0) {
      await client.query(
        `INSERT INTO ${counts} (value, n) SELECT * FROM unnest($1::text[], $2::bigint[])
         ON CONFLICT (value) DO UPDATE SET n = ${counts}.n + excluded.n`,
        [[...countDeltas.keys()], [...countDeltas.values()]],
      );
    }
    return position;
  }

  async list({ filter, before, limit }: ListRequest): Promise<ListResult<State>> {
    const wanted = filterColumns(this.definition, filter);
    const values: unknown[] = wanted.map(([, value]) => value);
    const conditions = wanted.map(([column], index) => `${column} = $${index + 1}`);
    if (before !== undefined) {
      values.push(before.toString());
      conditions.push(`first_position < $${values.length}`);
    }
    values.push(limit + 1);
    const { rows } = await this.pool.query<{ first_position: string; document: string }>(
      `SELECT first_position::text, document::text FROM ${this.names.live}
       ${conditions.length > 0 ? `WHERE ${conditions.join(" AND ")}` : ""}
       ORDER BY first_position DESC LIMIT $${values.length}`,
      values,
    );
    return {
      rows: rows.slice(0, limit).map((row) => ({ key: BigInt(row.first_position), state: JSON.parse(row.document) as State })),
      more: rows.length > limit,
    };
  }

  async counts(): Promise<Record<string, number>> {
    const { rows } = await this.pool.query<{ value: string; n: string }>(`SELECT value, n::text FROM ${this.names.liveCounts} WHERE n <> 0`);
    return Object.fromEntries(rows.map(({ value, n }) => [value, Number(n)]));
  }

  startRebuild(owner: string, target: bigint, { now, staleAfterMs }: { now: Date; staleAfterMs: number }): Promise<RebuildState> {
    const { name } = this.definition;
    return inTransaction(this.pool, async (client) => {
      const row = await this.lockProjection(client);
      if (row.rebuild_status === "rebuilding" && row.rebuild_owner !== owner && now.getTime() - Number(row.rebuild_heartbeat_at) < staleAfterMs) {
        throw new RebuildRunning(name, row.rebuild_owner ?? "?");
      }
      await client.query(`DROP TABLE IF EXISTS ${this.names.next}; DROP TABLE IF EXISTS ${this.names.nextCounts};`);
      await this.createTables(client, "next");
      const { rows } = await client.query<ProjectionRow>(
        `UPDATE projections SET rebuild_status = 'rebuilding', rebuild_owner = $2, rebuild_position = 0, rebuild_first = NULL,
           rebuild_target = $3, rebuild_started_at = $4, rebuild_finished_at = NULL, rebuild_heartbeat_at = $5, rebuild_error = NULL
         WHERE name = $1 RETURNING *`,
        [name, owner, target.toString(), now.toISOString(), now.getTime()],
      );
      return projectionRowToState(rows[0]!)!;
    });
  }

  applyToRebuild(owner: string, from: bigint, events: readonly RecordedEvent[], now: Date): Promise<bigint> {
    return inTransaction(this.pool, async (client) => {
      const checkpoint = BigInt((await this.owned(client, owner)).rebuild_position ?? 0);
      if (checkpoint !== from || events.length === 0) return checkpoint;
      const position = await this.write(client, this.names.next, this.names.nextCounts, events);
      await client.query(
        `UPDATE projections SET rebuild_position = $2, rebuild_first = coalesce(rebuild_first, $3), rebuild_heartbeat_at = $4 WHERE name = $1`,
        [this.definition.name, position.toString(), events[0]!.position.toString(), now.getTime()],
      );
      return position;
    });
  }

  seal(owner: string, now: Date, forMs: number): Promise<void> {
    return inTransaction(this.pool, async (client) => {
      await this.owned(client, owner);
      await client.query("UPDATE projections SET sealed_until = $2 WHERE name = $1", [this.definition.name, now.getTime() + forMs]);
    });
  }

  swap(owner: string, now: Date): Promise<boolean> {
    return inTransaction(this.pool, async (client) => {
      const row = await this.owned(client, owner);
      await client.query("UPDATE projections SET sealed_until = 0 WHERE name = $1", [this.definition.name]);
      if (BigInt(row.rebuild_position ?? 0) < BigInt(row.position)) return false;
      // ACCESS EXCLUSIVE on the served table: reads wait for the commit, then find the new one by its name.
      await client.query(`
        DROP TABLE ${this.names.live};
        DROP TABLE ${this.names.liveCounts};
        ALTER TABLE ${this.names.next} RENAME TO ${this.names.live};
        ALTER TABLE ${this.names.nextCounts} RENAME TO ${this.names.liveCounts};
      `);
      await client.query("UPDATE projections SET position = rebuild_position, rebuild_status = 'done', rebuild_finished_at = $2 WHERE name = $1", [
        this.definition.name,
        now.toISOString(),
      ]);
      return true;
    });
  }

  endRebuild(owner: string, status: "failed" | "interrupted", error: string | null, now: Date): Promise<void> {
    return inTransaction(this.pool, async (client) => {
      await this.owned(client, owner);
      await client.query(`DROP TABLE IF EXISTS ${this.names.next}; DROP TABLE IF EXISTS ${this.names.nextCounts};`);
      await client.query("UPDATE projections SET rebuild_status = $2, rebuild_error = $3, rebuild_finished_at = $4, sealed_until = 0 WHERE name = $1", [
        this.definition.name,
        status,
        error,
        now.toISOString(),
      ]);
    });
  }

  async rebuildState(): Promise<(RebuildState & { rows: number }) | undefined> {
    const { rows } = await this.pool.query<ProjectionRow>("SELECT * FROM projections WHERE name = $1", [this.definition.name]);
    const state = projectionRowToState(rows[0]!);
    if (!state) return undefined;
    const counts = state.status === "rebuilding" ? this.names.nextCounts : state.status === "done" ? this.names.liveCounts : undefined;
    if (!counts) return { ...state, rows: 0 };
    try {
      const { rows: sums } = await this.pool.query<{ rows: string }>(`SELECT coalesce(sum(n), 0)::text AS rows FROM ${counts}`);
      return { ...state, rows: Number(sums[0]!.rows) };
    } catch (error) {
      // Swapped in or dropped between the two reads: reported without rows this once.
      if (error instanceof DatabaseError && error.code === UNDEFINED_TABLE) return { ...state, rows: 0 };
      throw error;
    }
  }
}

import Database from "better-sqlite3";
import { Client } from "pg";
import { leaseLockKey } from "../../adapters/event-store/postgres-lease";

/**
 * Which process holds a lease of the store (the relay that publishes), asked from outside the
 * cluster by what the store keeps of its holder: its pid, which the local cluster matches to
 * one of its child processes.
 */
export interface LeaseHolders {
  /** The pid of the lease's holder; undefined when no one holds it. */
  holderPid(name: string): Promise<number | undefined>;
  close(): Promise<void>;
}

/** The lease holders of the store at `url` (EVENT_STORE_URL); undefined when the store cannot tell (memory:, EventStoreDB). */
export function leaseHoldersOf(url: string): LeaseHolders | undefined {
  if (url.startsWith("postgres://") || url.startsWith("postgresql://")) return new PostgresLeaseHolders(url);
  if (url.startsWith("sqlite:")) return new SqliteLeaseHolders(url.slice("sqlite:".length).split("?", 1)[0]!);
  return undefined;
}

/**
 * PostgreSQL: the session holding the lease's advisory lock (postgres-lease.ts), whose
 * application_name is `glitchbuster-lease-<name>@<host>:<pid>`. A contender waiting for the
 * lease keeps a session of the same name, but no granted lock.
 */
const POSTGRES_HOLDER = `
  SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
  WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
    AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
    AND l.classid::bigint = $1::bigint AND l.objid::bigint = $2::bigint
    AND a.application_name LIKE $3`;

class PostgresLeaseHolders implements LeaseHolders {
  private client: Promise<Client> | undefined;

  constructor(private readonly url: string) {}

  async holderPid(name: string): Promise<number | undefined> {
    // A bigint key is locked as two 32-bit halves: classid the high one, objid the low one.
    const key = BigInt.asUintN(64, BigInt(leaseLockKey(name)));
    const { rows } = await (
      await this.connect()
    ).query<{ application_name: string }>(POSTGRES_HOLDER, [(key >> 32n).toString(), (key & 0xffff_ffffn).toString(), `glitchbuster-lease-${name}@%`]);
    const pid = /:(\d+)$/.exec(rows[0]?.application_name ?? "")?.[1];
    return pid === undefined ? undefined : Number(pid);
  }

  private connect(): Promise<Client> {
    this.client ??= (async () => {
      const client = new Client({ connectionString: this.url, application_name: "glitchbuster-soak" });
      client.on("error", () => undefined);
      await client.connect();
      return client;
    })();
    return this.client;
  }

  async close(): Promise<void> {
    const client = await this.client?.catch(() => undefined);
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }
}

/** SQLite: the `leases` row, whose holder is `<pid>:<uuid>`, while it has not expired. */
class SqliteLeaseHolders implements LeaseHolders {
  private db: Database.Database | undefined;

  constructor(private readonly path: string) {}

  async holderPid(name: string): Promise<number | undefined> {
    this.db ??= new Database(this.path, { readonly: true, fileMustExist: true });
    const row = this.db.prepare<[string], { holder: string; expires_at: number }>("SELECT holder, expires_at FROM leases WHERE name = ?").get(name);
    if (!row || row.expires_at <= Date.now()) return undefined;
    const pid = /^(\d+):/.exec(row.holder)?.[1];
    return pid === undefined ? undefined : Number(pid);
  }

  async close(): Promise<void> {
    this.db?.close();
    this.db = undefined;
  }
}

import { createHash } from "node:crypto";
import { hostname } from "node:os";
import { Client } from "pg";
import { KeptLease } from "./lease";
import { Lease } from "./port";

/** The advisory lock key of a lease name: 64 bits of its hash, far from the migration lock's key. */
export function leaseLockKey(name: string): string {
  return createHash("sha256").update(`glitchbuster.lease.${name}`).digest().readBigInt64BE(0).toString();
}

/** application_name of a lease's session: the lease and the process (host and pid), cut to PostgreSQL's 63 bytes. */
export function leaseSessionName(name: string): string {
  return `glitchbuster-lease-${name}@${hostname()}:${process.pid}`.slice(0, 63);
}

/**
 * Leases as session-level advisory locks (pg_try_advisory_lock), each on a session of its own:
 * the lock dies with the session, so a holder killed with -9 frees it as soon as the server
 * sees its connection close. The holder pings its session every ttl/4 and the session has
 * idle_session_timeout = ttl, so a holder that cannot reach the server (or hangs) gives the
 * lease up on its side (no successful ping for ttl) no later than the server frees it.
 * A contender that lost keeps its session for its next try instead of connecting again.
 */
export class PostgresLeases {
  private readonly waiting = new Map<string, Client>();
  private readonly held = new Set<KeptLease>();
  private closed = false;

  constructor(private readonly url: string) {}

  async tryAcquire(name: string, ttlMs: number): Promise<Lease | undefined> {
    if (this.closed) throw new Error("the store is closed");
    const waiting = this.waiting.get(name);
    this.waiting.delete(name);
    const heldSince = performance.now();
    let client = waiting ?? (await this.connect(name, ttlMs));
    let held: boolean;
    try {
      held = await this.tryLock(client, name);
    } catch (error) {
      await client.end().catch(() => undefined);
      // A waiting session the server closed meanwhile: once more on a new one.
      if (!waiting) throw error;
      client = await this.connect(name, ttlMs);
      held = await this.tryLock(client, name).catch(async (again: unknown) => {
        await client.end().catch(() => undefined);
        throw again;
      });
    }
    if (!held || this.closed) {
      if (this.closed || this.waiting.has(name)) await client.end().catch(() => undefined);
      else this.waiting.set(name, client);
      return undefined;
    }
    const lease: KeptLease = new KeptLease(
      ttlMs,
      {
        renew: async () => {
          await client.query("SELECT 1");
          return true;
        },
        relinquish: async () => {
          this.held.delete(lease);
          await client.end().catch(() => undefined);
        },
      },
      heldSince,
    );
    client.on("end", () => {
      this.held.delete(lease);
      lease.lose("its database session ended");
    });
    this.held.add(lease);
    return lease;
  }

  private async tryLock(client: Client, name: string): Promise<boolean> {
    const { rows } = await client.query<{ held: boolean }>("SELECT pg_try_advisory_lock($1::bigint) AS held", [leaseLockKey(name)]);
    return rows[0]!.held;
  }

  async close(): Promise<void> {
    this.closed = true;
    const waiting = [...this.waiting.values()];
    this.waiting.clear();
    await Promise.all([
      ...[...this.held].map((lease) => lease.release().catch(() => undefined)),
      ...waiting.map((client) => client.end().catch(() => undefined)),
    ]);
  }

  private async connect(name: string, ttlMs: number): Promise<Client> {
    // Says which process holds (or waits for) the lease: pg_stat_activity joined with pg_locks.
    const client = new Client({
      connectionString: this.url,
      application_name: leaseSessionName(name),
      // A server that does not answer within the TTL: this try fails, or the holder loses the lease.
      connectionTimeoutMillis: Math.max(ttlMs, 1000),
      query_timeout: Math.max(ttlMs, 1000),
    });
    client.on("error", () => undefined);
    // A waiting session the server closed (idle_session_timeout, restart) is not tried again.
    client.on("end", () => {
      if (this.waiting.get(name) === client) this.waiting.delete(name);
    });
    try {
      await client.connect();
      await client.query("SELECT set_config('idle_session_timeout', $1, false)", [String(Math.ceil(ttlMs))]);
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
    return client;
  }
}

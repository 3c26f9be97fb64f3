import { Client } from "pg";

/** Where `npm run start:cluster` looks for PostgreSQL when EVENT_STORE_URL is unset. */
export const LOCAL_POSTGRES = "postgres://postgres@127.0.0.1:5432";
export const CLUSTER_DATABASE = "glitchbuster";
export const SHARED_SQLITE = "sqlite:./data/cluster-events.db";

export interface ClusterStore {
  url: string;
  /** Why this store, for the first line the runner prints; a warning when it is the fallback. */
  note: string;
  warning: boolean;
}

/**
 * The event store the local cluster's nodes share: EVENT_STORE_URL when set; else PostgreSQL
 * on 127.0.0.1:5432 when it answers, in a database of its own that is created on first use;
 * else one SQLite file, which every node then takes turns to write (about 150 sagas/s on two
 * cores, and one host only).
 */
export async function clusterStore(env: NodeJS.ProcessEnv): Promise<ClusterStore> {
  if (env.EVENT_STORE_URL) return { url: env.EVENT_STORE_URL, note: `event store: ${env.EVENT_STORE_URL} (EVENT_STORE_URL)`, warning: false };
  const client = new Client({ connectionString: `${LOCAL_POSTGRES}/postgres`, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    const exists = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [CLUSTER_DATABASE]);
    if (exists.rowCount === 0) await client.query(`CREATE DATABASE ${CLUSTER_DATABASE}`);
    const url = `${LOCAL_POSTGRES}/${CLUSTER_DATABASE}`;
    return { url, note: `event store: PostgreSQL, ${url}`, warning: false };
  } catch (error) {
    return {
      url: SHARED_SQLITE,
      note:
        `PostgreSQL does not answer on ${LOCAL_POSTGRES} (${(error as Error).message}): the nodes share one SQLite file ` +
        `(${SHARED_SQLITE}), which they take turns to write; set EVENT_STORE_URL or start PostgreSQL for a real cluster store`,
      warning: true,
    };
  } finally {
    await client.end().catch(() => undefined);
  }
}

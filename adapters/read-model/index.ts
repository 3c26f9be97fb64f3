import { SharedResources } from "../shared-resources";
import { MemoryReadModelStore } from "./memory";
import { ReadModelStore } from "./port";
import { PostgresReadModelStore } from "./postgres";
import { SqliteReadModelStore } from "./sqlite";

export * from "./port";

const isPostgres = (url: string) => url.startsWith("postgres://") || url.startsWith("postgresql://");
const isMemory = (url: string) => url.startsWith("memory:");
const scheme = (url: string) => `${url.slice(0, url.indexOf(":") + 1)}${url.includes("://") ? "//..." : "..."}`;

/**
 * Where the read models of an event store live (READ_MODEL_URL, else chosen from
 * EVENT_STORE_URL):
 * - `memory:` stores keep them in memory, per store (READ_MODEL_URL must then be unset or memory:);
 * - `sqlite:<path>` stores keep them in the same file, `postgres://` stores in the same database;
 * - `kurrentdb://` / `esdb://` stores need READ_MODEL_URL (sqlite:<path> or postgres://...).
 * Throws, naming the variable, when no place fits: a node must not start without its lists.
 */
export function readModelUrlFor(eventStoreUrl: string, readModelUrl?: string): string {
  if (isMemory(eventStoreUrl)) {
    if (readModelUrl && !isMemory(readModelUrl)) {
      throw new Error(
        `READ_MODEL_URL=${scheme(readModelUrl)} with EVENT_STORE_URL=memory:: a memory log starts empty at each start, ` +
          "so its read models must too; leave READ_MODEL_URL unset",
      );
    }
    // Keyed like the store: each memory log has read models of its own.
    return readModelUrl || eventStoreUrl;
  }
  if (readModelUrl) {
    if (!readModelUrl.startsWith("sqlite:") && !isPostgres(readModelUrl)) {
      throw new Error(`READ_MODEL_URL=${scheme(readModelUrl)}: expected sqlite:<path> or postgres://...`);
    }
    return readModelUrl;
  }
  if (eventStoreUrl.startsWith("sqlite:") || isPostgres(eventStoreUrl)) return eventStoreUrl;
  throw new Error(
    `READ_MODEL_URL is required with EVENT_STORE_URL=${scheme(eventStoreUrl)}: the order and DLQ lists are tables in a ` +
      "database of their own there; set READ_MODEL_URL=sqlite:<path> or READ_MODEL_URL=postgres://...",
  );
}

/** The adapter a read-model URL names (as readModelUrlFor answers it). */
export function createReadModelStore(url: string): ReadModelStore {
  if (isMemory(url)) return new MemoryReadModelStore();
  if (url.startsWith("sqlite:")) {
    const [path, query] = url.slice("sqlite:".length).split("?", 2);
    if (!path) throw new Error(`read model URL ${url}: the SQLite path is missing`);
    const synchronous = new URLSearchParams(query).get("synchronous");
    return new SqliteReadModelStore(path, { synchronous: synchronous === "full" ? "full" : "normal" });
  }
  if (isPostgres(url)) return new PostgresReadModelStore(url);
  throw new Error(`read model URL ${scheme(url)}: expected memory:, sqlite:<path> or postgres://...`);
}

const shared = new SharedResources<ReadModelStore>();

/** The read-model store of the process for this URL, shared by every service that names it. */
export function acquireReadModelStore(url: string): ReadModelStore {
  return shared.acquire(url, () => createReadModelStore(url));
}

export function releaseReadModelStore(url: string): Promise<void> {
  return shared.release(url);
}

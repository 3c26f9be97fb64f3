import { EventStoreDbEventStore } from "./eventstoredb";
import { MemoryEventStore } from "./memory";
import { EventStore } from "./port";
import { SqliteEventStore } from "./sqlite";

export * from "./port";

/**
 * Builds the adapter that EVENT_STORE_URL names:
 * - `memory:` or `memory:<name>`: in the process only;
 * - `sqlite:<path>` (optionally `?synchronous=full`): a file, ./data/events.db by default;
 * - `esdb://...` / `esdb+discover://...`: EventStoreDB, passed to its client unchanged.
 */
export function createEventStore(url: string): EventStore {
  if (url === "memory:" || url.startsWith("memory:")) return new MemoryEventStore();
  if (url.startsWith("sqlite:")) {
    const [path, query] = url.slice("sqlite:".length).split("?", 2);
    const synchronous = new URLSearchParams(query).get("synchronous");
    if (!path) throw new Error(`EVENT_STORE_URL ${url}: the SQLite path is missing`);
    if (synchronous !== null && synchronous !== "normal" && synchronous !== "full") {
      throw new Error(`EVENT_STORE_URL ${url}: synchronous must be normal or full`);
    }
    return new SqliteEventStore(path, { synchronous: synchronous ?? "normal" });
  }
  if (url.startsWith("esdb://") || url.startsWith("esdb+discover://")) return new EventStoreDbEventStore(url);
  throw new Error(`EVENT_STORE_URL ${url}: expected memory:, sqlite:<path> or esdb://...`);
}

interface SharedStore {
  store: EventStore;
  users: number;
}

const shared = new Map<string, SharedStore>();

/**
 * Services of one process that name the same URL share one store: the same memory log, one
 * SQLite connection, one gRPC channel. It closes when its last user releases it.
 */
export function acquireEventStore(url: string): EventStore {
  const entry = shared.get(url) ?? { store: createEventStore(url), users: 0 };
  entry.users += 1;
  shared.set(url, entry);
  return entry.store;
}

export async function releaseEventStore(url: string): Promise<void> {
  const entry = shared.get(url);
  if (!entry) return;
  entry.users -= 1;
  if (entry.users > 0) return;
  shared.delete(url);
  await entry.store.close();
}

import { EVENT_UPCASTERS } from "../../domain/upcasting";
import { SharedResources } from "../shared-resources";
import { EventStoreDbEventStore, isEventStoreDbUrl } from "./eventstoredb";
import { MemoryEventStore } from "./memory";
import { EventSchemas, EventStore } from "./port";
import { PostgresEventStore } from "./postgres";
import { SqliteEventStore } from "./sqlite";
import { VersionedEventStore } from "./versioned";

export * from "./port";

/**
 * The store that EVENT_STORE_URL names, its events versioned by `schemas` (the domain's
 * upcasters): see versioned.ts.
 */
export function createEventStore(url: string, schemas: EventSchemas = EVENT_UPCASTERS): EventStore {
  return new VersionedEventStore(createAdapter(url), schemas);
}

/**
 * Builds the adapter that EVENT_STORE_URL names:
 * - `memory:` or `memory:<name>`: in the process only;
 * - `sqlite:<path>` (optionally `?synchronous=full`): a file, ./data/events.db by default;
 * - `postgres://...` / `postgresql://...`: PostgreSQL, the URL passed to `pg` unchanged;
 * - `kurrentdb://...` / `kurrentdb+discover://...`: EventStoreDB (KurrentDB), passed to its
 *   client unchanged; `esdb://...` / `esdb+discover://...`, the scheme the client deprecated,
 *   mean the same and reach it in their kurrentdb:// form.
 */
function createAdapter(url: string): EventStore {
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
  if (url.startsWith("postgres://") || url.startsWith("postgresql://")) return new PostgresEventStore(url);
  if (isEventStoreDbUrl(url)) return new EventStoreDbEventStore(url);
  throw new Error(`EVENT_STORE_URL ${url}: expected memory:, sqlite:<path>, postgres://..., kurrentdb://... or esdb://...`);
}

const shared = new SharedResources<EventStore>();

/** The store of the process for this URL, shared by every service that names it. */
export function acquireEventStore(url: string): EventStore {
  return shared.acquire(url, () => createEventStore(url));
}

export function releaseEventStore(url: string): Promise<void> {
  return shared.release(url);
}

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EventStore } from "../../adapters/event-store";
import { EventStoreDbEventStore, isEventStoreDbUrl } from "../../adapters/event-store/eventstoredb";
import { MemoryEventStore } from "../../adapters/event-store/memory";
import { SqliteEventStore } from "../../adapters/event-store/sqlite";
import { startEventStoreDbFake } from "./esdb-fake";

/** One adapter under test, with what it needs around it (a temp dir, the gRPC fake). */
export interface EventStoreFixture {
  name: string;
  open(): Promise<{ store: EventStore; dispose(): Promise<void> }>;
}

export const eventStoreFixtures: EventStoreFixture[] = [
  {
    name: "memory",
    async open() {
      const store = new MemoryEventStore();
      return { store, dispose: () => store.close() };
    },
  },
  {
    name: "sqlite",
    async open() {
      const dir = mkdtempSync(join(tmpdir(), "glitchbuster-es-"));
      const store = new SqliteEventStore(join(dir, "events.db"));
      return {
        store,
        async dispose() {
          await store.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  },
  {
    // EVENT_STORE_URL=kurrentdb://... (or esdb://...) runs the same suite against a real server.
    name: isEventStoreDbUrl(process.env.EVENT_STORE_URL ?? "") ? "eventstoredb (server)" : "eventstoredb (gRPC fake)",
    async open() {
      const external = process.env.EVENT_STORE_URL;
      if (external && isEventStoreDbUrl(external)) {
        const store = new EventStoreDbEventStore(external);
        return { store, dispose: () => store.close() };
      }
      const fake = await startEventStoreDbFake();
      const store = new EventStoreDbEventStore(fake.url);
      return {
        store,
        async dispose() {
          await store.close();
          await fake.stop();
        },
      };
    },
  },
];

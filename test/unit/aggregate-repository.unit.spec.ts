import { WrongExpectedRevision } from "../../adapters/event-store";
import { MemoryEventStore } from "../../adapters/event-store/memory";
import type { Decider } from "../../domain/decider";
import { AggregateRepository } from "../../adapters/event-store/aggregate-repository";
import { metadata } from "../support/events";

type CounterEvent = { type: "Incremented"; data: { by: number } };
type IncrementCounter = { type: "Increment"; by: number };

const counter: Decider<IncrementCounter, CounterEvent, number> = {
  initialState: () => 0,
  decide: (command) => [{ type: "Incremented", data: { by: command.by } }],
  evolve: (total, event) => total + event.data.by,
};

describe("AggregateRepository", () => {
  it("decides again on the new state when another writer moved the stream, up to its bound", async () => {
    const store = new MemoryEventStore();
    const repository = new AggregateRepository(store, counter, "counter", 5);

    const handled = await Promise.all([1, 2, 3].map((by) => repository.handle("a", { type: "Increment", by }, { ...metadata() })));

    expect((await repository.load("a")).state).toBe(6);
    expect(handled.map((result) => result.attempts).sort()).toEqual([1, 2, 3]);
    expect((await store.read("counter-a")).map((event) => event.revision)).toEqual([0, 1, 2]);
  });

  it("gives up with WrongExpectedRevision once the bound is reached", async () => {
    const store = new MemoryEventStore();
    const repository = new AggregateRepository(store, counter, "counter", 1);

    const outcomes = await Promise.allSettled([1, 2].map((by) => repository.handle("b", { type: "Increment", by }, { ...metadata() })));

    expect(outcomes.filter((outcome) => outcome.status === "fulfilled")).toHaveLength(1);
    expect(outcomes.find((outcome) => outcome.status === "rejected")).toMatchObject({
      reason: expect.any(WrongExpectedRevision),
    });
    expect(await store.read("counter-b")).toHaveLength(1);
  });

  it("loads a missing stream as the initial state, expecting no stream", async () => {
    const repository = new AggregateRepository(new MemoryEventStore(), counter, "counter");
    await expect(repository.load("none")).resolves.toEqual({ state: 0, revision: "no_stream", events: [] });
  });
});

/** A store that counts its reads, as the cache is meant to spare them. */
class CountingStore extends MemoryEventStore {
  reads = 0;
  override read(...args: Parameters<MemoryEventStore["read"]>): ReturnType<MemoryEventStore["read"]> {
    this.reads += 1;
    return super.read(...args);
  }
}

type LimitedCommand = { type: "Increment"; by: number } | { type: "Reset" };

/** A counter that refuses to pass 10 and whose reset changes nothing at 0. */
const limited: Decider<LimitedCommand, CounterEvent, number> = {
  initialState: () => 0,
  decide: (command, total) => {
    switch (command.type) {
      case "Increment":
        if (total + command.by > 10) throw new Error(`over the limit at ${total}`);
        return [{ type: "Incremented", data: { by: command.by } }];
      case "Reset":
        return total === 0 ? [] : [{ type: "Incremented", data: { by: -total } }];
      default: {
        const unknown: never = command;
        throw new Error(`unknown command ${JSON.stringify(unknown)}`);
      }
    }
  },
  evolve: (total, event) => total + event.data.by,
};

describe("AggregateRepository cache", () => {
  it("decides on the state it holds: a new stream and the next commands read nothing", async () => {
    const store = new CountingStore();
    const repository = new AggregateRepository(store, counter, "counter");

    await repository.handle("a", { type: "Increment", by: 1 }, { ...metadata() });
    const second = await repository.handle("a", { type: "Increment", by: 2 }, { ...metadata() });
    await repository.handle("a", { type: "Increment", by: 3 }, { ...metadata() });

    expect(store.reads).toBe(0);
    expect(second).toMatchObject({ state: 3, attempts: 1 });
    expect((await store.read("counter-a")).map((event) => [event.revision, event.data])).toEqual([
      [0, { by: 1 }],
      [1, { by: 2 }],
      [2, { by: 3 }],
    ]);
  });

  it("detects an entry made stale by another process, reloads it and decides on the fresh state", async () => {
    const store = new CountingStore();
    const here = new AggregateRepository(store, limited, "counter");
    const elsewhere = new AggregateRepository(store, limited, "counter");

    await here.handle("a", { type: "Increment", by: 1 }, { ...metadata() }); // holds 1 at revision 0
    await elsewhere.handle("a", { type: "Increment", by: 8 }, { ...metadata() }); // the store: 9 at revision 1
    store.reads = 0;

    // Decided on the stale 1: accepted, but the append expecting revision 0 is refused.
    await expect(here.handle("a", { type: "Increment", by: 5 }, { ...metadata() })).rejects.toThrow("over the limit at 9");
    expect(store.reads).toBe(1);

    const accepted = await here.handle("a", { type: "Increment", by: 1 }, { ...metadata() });
    expect(accepted).toMatchObject({ state: 10, attempts: 1 });
    expect(store.reads).toBe(1);
    expect((await store.read("counter-a")).map((event) => event.data)).toEqual([{ by: 1 }, { by: 8 }, { by: 1 }]);
  });

  it("checks the store before a decision that appends nothing on a cached state", async () => {
    const store = new CountingStore();
    const here = new AggregateRepository(store, limited, "counter");
    const elsewhere = new AggregateRepository(store, limited, "counter");

    await expect(here.load("c")).resolves.toMatchObject({ state: 0, revision: "no_stream" }); // holds "no stream"
    await elsewhere.handle("c", { type: "Increment", by: 3 }, { ...metadata() });

    const reset = await here.handle("c", { type: "Reset" }, { ...metadata() });
    expect(reset).toMatchObject({ state: 0, events: [{ type: "Incremented", data: { by: -3 } }] });

    // And a rejection on a stale entry is a rejection on the fresh one only.
    await elsewhere.handle("c", { type: "Increment", by: 10 }, { ...metadata() }); // refused on the 3 held elsewhere, then decided on the 0 read
    await expect(here.handle("c", { type: "Increment", by: 1 }, { ...metadata() })).rejects.toThrow("over the limit at 10");
    await expect(here.handle("c", { type: "Reset" }, { ...metadata() })).resolves.toMatchObject({ state: 0 });
    expect((await store.read("counter-c")).map((event) => event.data)).toEqual([{ by: 3 }, { by: -3 }, { by: 10 }, { by: -10 }]);
  });

  it("keeps at most its limit of aggregates, dropping the least recently used", async () => {
    const store = new CountingStore();
    const repository = new AggregateRepository(store, counter, "counter", 5, 3);
    const increment = (id: string) => repository.handle(id, { type: "Increment", by: 1 }, { ...metadata() });

    for (const id of ["a", "b", "c"]) await increment(id);
    await increment("a"); // a is now the most recently used
    await increment("d"); // b goes
    expect(repository.cachedCount).toBe(3);
    store.reads = 0;

    await increment("a");
    await increment("c");
    await increment("d");
    expect(store.reads).toBe(0);
    await expect(increment("b")).resolves.toMatchObject({ state: 2 }); // assumed new, refused, read
    expect(store.reads).toBe(1);
    expect(repository.cachedCount).toBe(3);

    for (let index = 0; index < 50; index += 1) await increment(`many-${index}`);
    expect(repository.cachedCount).toBe(3);
  });

  it("keeps exactly one of concurrent commands that exclude each other on a cached stream", async () => {
    const store = new CountingStore();
    const repository = new AggregateRepository(store, limited, "counter", 25);
    await repository.handle("e", { type: "Increment", by: 1 }, { ...metadata() });

    const outcomes = await Promise.allSettled(Array.from({ length: 20 }, () => repository.handle("e", { type: "Increment", by: 9 }, { ...metadata() })));

    expect(outcomes.filter((outcome) => outcome.status === "fulfilled")).toHaveLength(1);
    expect((await store.read("counter-e")).map((event) => event.data)).toEqual([{ by: 1 }, { by: 9 }]);
  });
});

import { WrongExpectedRevision } from "../../adapters/event-store";
import { MemoryEventStore } from "../../adapters/event-store/memory";
import { AggregateRepository, Decider } from "../../mixins/aggregate-repository";
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

    const handled = await Promise.all(
      [1, 2, 3].map((by) => repository.handle("a", { type: "Increment", by }, { ...metadata() })),
    );

    expect((await repository.load("a")).state).toBe(6);
    expect(handled.map((result) => result.attempts).sort()).toEqual([1, 2, 3]);
    expect((await store.read("counter-a")).map((event) => event.revision)).toEqual([0, 1, 2]);
  });

  it("gives up with WrongExpectedRevision once the bound is reached", async () => {
    const store = new MemoryEventStore();
    const repository = new AggregateRepository(store, counter, "counter", 1);

    const outcomes = await Promise.allSettled(
      [1, 2].map((by) => repository.handle("b", { type: "Increment", by }, { ...metadata() })),
    );

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

/**
 * EventStoreDbEventStore through the real @eventstore/db-client against the in-process gRPC
 * fake. The fake leaves the legacy Append method unimplemented, so every append here goes the
 * BatchAppend way a current server serves.
 */
import {
  ANY,
  NO_STREAM,
  RecordedEvent,
  STREAM_EXISTS,
  StreamNotFound,
  WrongExpectedRevision,
} from "../../adapters/event-store/port";
import { EventStoreDbEventStore } from "../../adapters/event-store/eventstoredb";
import { startEventStoreDbFake, type EventStoreDbFake } from "../support/esdb-fake";
import { anEvent, metadata, uniqueStream } from "../support/events";

async function refusal(attempt: Promise<unknown>): Promise<WrongExpectedRevision> {
  const reason = await attempt.then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(reason).toBeInstanceOf(WrongExpectedRevision);
  return reason as WrongExpectedRevision;
}

const idsOf = (events: readonly { id: string }[]) => events.map((event) => event.id);
const typesOf = (events: RecordedEvent[]) => events.map((event) => event.type);

describe("EventStoreDbEventStore over the EventStoreDB gRPC fake", () => {
  let fake: EventStoreDbFake;
  let store: EventStoreDbEventStore;

  beforeAll(async () => {
    fake = await startEventStoreDbFake();
    store = new EventStoreDbEventStore(fake.url);
  });

  afterAll(async () => {
    await store.close();
    await fake.stop();
  });

  it("reads back the data and metadata appended, with revisions from 0 and the append's position", async () => {
    const stream = uniqueStream("order");
    const created = anEvent("OrderCreated", { orderId: "o-1", lines: [{ sku: "p-ü-☃", quantity: 2 }], note: null });
    const confirmed = { ...anEvent("OrderConfirmed", { orderId: "o-1" }), metadata: metadata({ tenant: "t-1", retries: 2 }) };

    const result = await store.append(stream, [created, confirmed], { expectedRevision: NO_STREAM });
    const events = await store.read(stream);

    expect(result.nextExpectedRevision).toBe(1);
    expect(events.map(({ position: _position, ...event }) => event)).toEqual([
      { ...created, stream, revision: 0 },
      { ...confirmed, stream, revision: 1 },
    ]);
    expect(typeof events[0]!.position).toBe("bigint");
    expect(events[0]!.position < events[1]!.position).toBe(true);
    expect(events[1]!.position).toBe(result.position);
  });

  it("writes an append larger than the client's 3 MiB batch, which reaches the server in several requests", async () => {
    const stream = uniqueStream("large");
    const events = Array.from({ length: 4 }, (_, index) => anEvent("Blob", { index, payload: "x".repeat(1024 * 1024) }));

    const result = await store.append(stream, events, { expectedRevision: NO_STREAM });

    expect(result.nextExpectedRevision).toBe(3);
    expect(idsOf(await store.read(stream))).toEqual(idsOf(events));
  });

  describe("expected revision", () => {
    it("no stream: accepted for a new stream, refused with the actual revision once it exists", async () => {
      const stream = uniqueStream("s");
      await expect(store.append(stream, [anEvent("A")], { expectedRevision: NO_STREAM })).resolves.toMatchObject({
        nextExpectedRevision: 0,
      });

      const refused = await refusal(store.append(stream, [anEvent("B")], { expectedRevision: NO_STREAM }));

      expect(refused).toMatchObject({ stream, expectedRevision: NO_STREAM, actualRevision: 0 });
      expect(await store.read(stream)).toHaveLength(1);
    });

    it("stream exists: refused for a new stream with no_stream as the actual revision, accepted once it exists", async () => {
      const stream = uniqueStream("s");
      const refused = await refusal(store.append(stream, [anEvent("A")], { expectedRevision: STREAM_EXISTS }));
      expect(refused).toMatchObject({ stream, expectedRevision: STREAM_EXISTS, actualRevision: NO_STREAM });
      await expect(store.read(stream)).rejects.toBeInstanceOf(StreamNotFound);

      await store.append(stream, [anEvent("A")], { expectedRevision: NO_STREAM });
      await expect(store.append(stream, [anEvent("B")], { expectedRevision: STREAM_EXISTS })).resolves.toMatchObject({
        nextExpectedRevision: 1,
      });
    });

    it("any: accepted for a new stream and for an existing one", async () => {
      const stream = uniqueStream("s");
      expect((await store.append(stream, [anEvent("A")], { expectedRevision: ANY })).nextExpectedRevision).toBe(0);
      expect((await store.append(stream, [anEvent("B")], { expectedRevision: ANY })).nextExpectedRevision).toBe(1);
    });

    it("a revision: accepted at that revision only, refused behind, ahead and on a missing stream", async () => {
      const stream = uniqueStream("s");
      await store.append(stream, [anEvent("A"), anEvent("B")], { expectedRevision: NO_STREAM });

      expect(await refusal(store.append(stream, [anEvent("C")], { expectedRevision: 0 }))).toMatchObject({
        stream,
        expectedRevision: 0,
        actualRevision: 1,
      });
      expect(await refusal(store.append(stream, [anEvent("C")], { expectedRevision: 7 }))).toMatchObject({
        expectedRevision: 7,
        actualRevision: 1,
      });
      const missing = uniqueStream("s");
      expect(await refusal(store.append(missing, [anEvent("C")], { expectedRevision: 0 }))).toMatchObject({
        stream: missing,
        expectedRevision: 0,
        actualRevision: NO_STREAM,
      });

      await expect(store.append(stream, [anEvent("C")], { expectedRevision: 1 })).resolves.toMatchObject({
        nextExpectedRevision: 2,
      });
      expect(typesOf(await store.read(stream))).toEqual(["A", "B", "C"]);
    });
  });

  it("raises StreamNotFound, naming the stream, for a stream without events", async () => {
    const stream = uniqueStream("missing");
    await expect(store.read(stream)).rejects.toEqual(new StreamNotFound(stream));
    await expect(store.read(stream, { direction: "backwards" })).rejects.toBeInstanceOf(StreamNotFound);
  });

  it("reads backwards from the end or from a revision, and forwards from a revision, with a count", async () => {
    const stream = uniqueStream("s");
    await store.append(stream, ["E0", "E1", "E2", "E3", "E4"].map((type) => anEvent(type)), {
      expectedRevision: NO_STREAM,
    });

    const backwards = await store.read(stream, { direction: "backwards" });
    expect(typesOf(backwards)).toEqual(["E4", "E3", "E2", "E1", "E0"]);
    expect(backwards.map((event) => event.revision)).toEqual([4, 3, 2, 1, 0]);
    expect(typesOf(await store.read(stream, { direction: "backwards", maxCount: 2 }))).toEqual(["E4", "E3"]);
    expect(typesOf(await store.read(stream, { direction: "backwards", fromRevision: 2 }))).toEqual(["E2", "E1", "E0"]);
    expect(typesOf(await store.read(stream, { direction: "backwards", fromRevision: 3, maxCount: 2 }))).toEqual(["E3", "E2"]);
    expect(typesOf(await store.read(stream, { fromRevision: 3 }))).toEqual(["E3", "E4"]);
    expect(typesOf(await store.read(stream, { fromRevision: 1, maxCount: 2 }))).toEqual(["E1", "E2"]);
    expect(await store.read(stream, { fromRevision: 9 })).toEqual([]);
  });

  describe("the global log", () => {
    it("gives every stream's events after a position in append order, each once", async () => {
      const [left, right] = [uniqueStream("left"), uniqueStream("right")];
      const start = await store.append(uniqueStream("start"), [anEvent("Start")], { expectedRevision: NO_STREAM });
      const appended: string[] = [];
      for (let round = 0; round < 3; round += 1) {
        for (const stream of [left, right]) {
          const event = anEvent("Ticked", { round });
          await store.append(stream, [event], { expectedRevision: round === 0 ? NO_STREAM : round - 1 });
          appended.push(event.id);
        }
      }

      const log = await store.readAll({ after: start.position });

      expect(idsOf(log)).toEqual(appended);
      expect(log.map((event) => event.stream)).toEqual([left, right, left, right, left, right]);
      log.slice(1).forEach((event, index) => expect(event.position > log[index]!.position).toBe(true));
      expect(idsOf(await store.readAll({ after: log[2]!.position, maxCount: 2 }))).toEqual(appended.slice(3, 5));
      expect(await store.readAll({ after: log[5]!.position })).toEqual([]);
      expect(idsOf(await store.readAll()).slice(-appended.length)).toEqual(appended);
    });

    it("leaves out system events, still filling the page with the events after them", async () => {
      const start = await store.append(uniqueStream("start"), [anEvent("Start")], { expectedRevision: NO_STREAM });
      await store.append(`$system-${uniqueStream("s")}`, [anEvent("Checked")], { expectedRevision: ANY });
      await store.append(uniqueStream("s"), [anEvent("$metadata")], { expectedRevision: ANY });
      const visible = anEvent("Visible");
      await store.append(uniqueStream("s"), [visible], { expectedRevision: ANY });

      expect(idsOf(await store.readAll({ after: start.position, maxCount: 1 }))).toEqual([visible.id]);
    });
  });

  it("lets exactly one of 25 concurrent appends with the same expected revision through", async () => {
    const stream = uniqueStream("race");
    await store.append(stream, [anEvent("Created")], { expectedRevision: NO_STREAM });

    const outcomes = await Promise.allSettled(
      Array.from({ length: 25 }, (_, contender) =>
        store.append(stream, [anEvent("Changed", { contender })], { expectedRevision: 0 }),
      ),
    );

    expect(outcomes.filter((outcome) => outcome.status === "fulfilled")).toHaveLength(1);
    const refused = outcomes.flatMap((outcome) => (outcome.status === "rejected" ? [outcome.reason as unknown] : []));
    expect(refused).toHaveLength(24);
    for (const reason of refused) {
      expect(reason).toBeInstanceOf(WrongExpectedRevision);
      expect(reason).toMatchObject({ stream, expectedRevision: 0, actualRevision: 1 });
    }
    expect(typesOf(await store.read(stream))).toEqual(["Created", "Changed"]);
  });

  describe("a repeated append of the same event ids (a retry after a lost answer)", () => {
    it("answers as the first append did and writes nothing, with the same expected revision", async () => {
      const stream = uniqueStream("retry");
      await store.append(stream, [anEvent("Created")], { expectedRevision: NO_STREAM });
      const events = [anEvent("A"), anEvent("B")];
      const first = await store.append(stream, events, { expectedRevision: 0 });
      await store.append(stream, [anEvent("Later")], { expectedRevision: 2 });

      await expect(store.append(stream, events, { expectedRevision: 0 })).resolves.toEqual(first);
      expect(typesOf(await store.read(stream))).toEqual(["Created", "A", "B", "Later"]);
    });

    it("is recognised for a new stream and for any revision too", async () => {
      const stream = uniqueStream("retry");
      const events = [anEvent("A"), anEvent("B")];
      const first = await store.append(stream, events, { expectedRevision: NO_STREAM });

      await expect(store.append(stream, events, { expectedRevision: NO_STREAM })).resolves.toEqual(first);
      await expect(store.append(stream, events, { expectedRevision: ANY })).resolves.toEqual(first);
      expect(idsOf(await store.read(stream))).toEqual(idsOf(events));
    });

    it("is refused when the ids were written at another revision", async () => {
      const stream = uniqueStream("retry");
      const events = [anEvent("A")];
      await store.append(stream, events, { expectedRevision: NO_STREAM });

      expect(await refusal(store.append(stream, events, { expectedRevision: 3 }))).toMatchObject({ actualRevision: 0 });
    });
  });

  it("answers a ping while the server runs, and rejects one once it is gone", async () => {
    const own = await startEventStoreDbFake();
    const pinged = new EventStoreDbEventStore(own.url);
    try {
      await expect(pinged.ping()).resolves.toBeUndefined();
      await own.stop();
      await expect(pinged.ping()).rejects.toThrow();
    } finally {
      await pinged.close();
      await own.stop();
    }
  });
});

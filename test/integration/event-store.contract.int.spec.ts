import Database from "better-sqlite3";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  ANY,
  EventData,
  EventMetadata,
  EventStore,
  NO_STREAM,
  RecordedEvent,
  STREAM_EXISTS,
  StreamNotFound,
  UnreadableEvent,
  WrongExpectedRevision,
  createEventStore,
} from "../../adapters/event-store";
import { SqliteEventStore } from "../../adapters/event-store/sqlite";
import { UnknownSchemaVersion } from "../../domain/upcasting";
import { waitFor } from "../../tools/wait-for";
import { eventStoreFixtures } from "../support/event-stores";
import { anEvent, metadata, uniqueStream } from "../support/events";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function conflictOf(attempt: Promise<unknown>): Promise<WrongExpectedRevision> {
  const error = await attempt.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(WrongExpectedRevision);
  return error as WrongExpectedRevision;
}

/** Pages through the global log after `origin`, keeping the events of the given streams. */
/**
 * The events of `streams` in the global log after `origin`, once each stream shows in it:
 * PostgreSQL shows an event only once every older transaction of the server has ended, and
 * another suite's database may hold one for a moment.
 */
async function globalLogOf(store: EventStore, streams: string[], origin: bigint): Promise<RecordedEvent[]> {
  const kept: RecordedEvent[] = [];
  let after = origin;
  const deadline = Date.now() + 10_000;
  for (;;) {
    const page = await store.readAll({ after, maxCount: 1000 });
    if (page.length > 0) {
      kept.push(...page.filter((event) => streams.includes(event.stream)));
      after = page[page.length - 1]!.position;
      continue;
    }
    if (streams.every((stream) => kept.some((event) => event.stream === stream)) || Date.now() > deadline) return kept;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** SagaStarted as it was written before sagas recorded their limits: schema version 1. */
function sagaStartedV1(orderId: string, metadataOverrides: Partial<EventMetadata> = {}): EventData {
  return {
    ...anEvent("SagaStarted", { orderId, customerId: "c-1", amount: 2500, currency: "EUR", at: "2026-11-29T10:00:00.000Z" }),
    metadata: metadata(metadataOverrides),
  };
}

/** What a reader keeps of an event: everything but its position. */
const asRead = ({ id, type, data, metadata: meta, stream, revision }: RecordedEvent) => ({ id, type, data, metadata: meta, stream, revision });

describe.each(eventStoreFixtures)("EventStore contract: $name", (fixture) => {
  let store: EventStore;
  let adapter: EventStore;
  let dispose: () => Promise<void>;
  /**
   * Where this run's global log starts: a real server (EVENT_STORE_URL) keeps the events of
   * earlier runs, an unreadable one among them (see "refuses an event of a version newer...").
   */
  let origin: bigint;

  beforeAll(async () => {
    ({ store, adapter, dispose } = await fixture.open());
    ({ position: origin } = await store.append(uniqueStream("origin"), [anEvent("RunStarted")], { expectedRevision: NO_STREAM }));
  });
  afterAll(() => dispose());

  it("reads back exactly the data and metadata appended, with revisions from 0", async () => {
    const stream = uniqueStream("order");
    const first = anEvent("OrderCreated", {
      orderId: "o-1",
      items: [{ productId: "p-ü-☃", quantity: 2, unitPrice: 1999 }],
      nested: { deep: { list: [1, "two", null, true] } },
    });
    const second = { ...anEvent("OrderConfirmed", { orderId: "o-1" }), metadata: metadata({ extra: "kept" }) };

    const result = await store.append(stream, [first, second], { expectedRevision: NO_STREAM });

    expect(result.nextExpectedRevision).toBe(1);
    const events = await store.read(stream);
    expect(events.map(asRead)).toEqual([
      { ...first, metadata: { ...first.metadata, schemaVersion: 1 }, stream, revision: 0 },
      { ...second, metadata: { ...second.metadata, schemaVersion: 1 }, stream, revision: 1 },
    ]);
    expect(events[1]!.position).toBe(result.position);
    expect(events[0]!.position < events[1]!.position).toBe(true);
  });

  it("raises StreamNotFound for a stream without events", async () => {
    const stream = uniqueStream("missing");
    await expect(store.read(stream)).rejects.toBeInstanceOf(StreamNotFound);
    await expect(store.read(stream)).rejects.toMatchObject({ stream });
  });

  describe("expected revision", () => {
    it("no stream: accepted for a new stream, refused once it exists", async () => {
      const stream = uniqueStream("s");
      await store.append(stream, [anEvent("A")], { expectedRevision: NO_STREAM });

      const conflict = await conflictOf(store.append(stream, [anEvent("B")], { expectedRevision: NO_STREAM }));

      expect(conflict).toMatchObject({ stream, expectedRevision: NO_STREAM, actualRevision: 0 });
      expect(await store.read(stream)).toHaveLength(1);
    });

    it("stream exists: refused for a new stream, accepted once it exists", async () => {
      const stream = uniqueStream("s");
      const conflict = await conflictOf(store.append(stream, [anEvent("A")], { expectedRevision: STREAM_EXISTS }));
      expect(conflict).toMatchObject({ stream, expectedRevision: STREAM_EXISTS, actualRevision: NO_STREAM });
      await expect(store.read(stream)).rejects.toBeInstanceOf(StreamNotFound);

      await store.append(stream, [anEvent("A")], { expectedRevision: ANY });
      const result = await store.append(stream, [anEvent("B")], { expectedRevision: STREAM_EXISTS });
      expect(result.nextExpectedRevision).toBe(1);
    });

    it("any: accepted whatever the stream holds", async () => {
      const stream = uniqueStream("s");
      expect((await store.append(stream, [anEvent("A")], { expectedRevision: ANY })).nextExpectedRevision).toBe(0);
      expect((await store.append(stream, [anEvent("B")], { expectedRevision: ANY })).nextExpectedRevision).toBe(1);
    });

    it("exact: accepted at that revision only, and names the actual one when refused", async () => {
      const stream = uniqueStream("s");
      await store.append(stream, [anEvent("A"), anEvent("B")], { expectedRevision: NO_STREAM });

      const behind = await conflictOf(store.append(stream, [anEvent("C")], { expectedRevision: 0 }));
      expect(behind).toMatchObject({ stream, expectedRevision: 0, actualRevision: 1 });
      const ahead = await conflictOf(store.append(stream, [anEvent("C")], { expectedRevision: 5 }));
      expect(ahead).toMatchObject({ expectedRevision: 5, actualRevision: 1 });
      const missing = await conflictOf(store.append(uniqueStream("s"), [anEvent("C")], { expectedRevision: 0 }));
      expect(missing).toMatchObject({ expectedRevision: 0, actualRevision: NO_STREAM });

      expect((await store.append(stream, [anEvent("C")], { expectedRevision: 1 })).nextExpectedRevision).toBe(2);
      expect((await store.read(stream)).map((event) => event.type)).toEqual(["A", "B", "C"]);
    });
  });

  it("lets exactly one of 25 concurrent appends with the same expected revision through", async () => {
    const stream = uniqueStream("race");
    await store.append(stream, [anEvent("Created")], { expectedRevision: NO_STREAM });
    const contenders = Array.from({ length: 25 }, (_, index) => anEvent("Changed", { contender: index }));

    const outcomes = await Promise.allSettled(contenders.map((event) => store.append(stream, [event], { expectedRevision: 0 })));

    const won = outcomes.filter((outcome) => outcome.status === "fulfilled");
    const lost = outcomes.flatMap((outcome) => (outcome.status === "rejected" ? [outcome.reason as unknown] : []));
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(24);
    for (const reason of lost) expect(reason).toBeInstanceOf(WrongExpectedRevision);
    const events = await store.read(stream);
    expect(events).toHaveLength(2);
    expect(events[1]!.type).toBe("Changed");
  });

  it("lets exactly one of 25 concurrent creations of the same stream through", async () => {
    const stream = uniqueStream("race");
    const outcomes = await Promise.allSettled(Array.from({ length: 25 }, () => store.append(stream, [anEvent("Created")], { expectedRevision: NO_STREAM })));
    expect(outcomes.filter((outcome) => outcome.status === "fulfilled")).toHaveLength(1);
    expect(await store.read(stream)).toHaveLength(1);
  });

  describe("a repeated append of the same event ids (a retry after a lost answer)", () => {
    it("answers as the first append did and writes nothing, with the same expected revision", async () => {
      const stream = uniqueStream("retry");
      await store.append(stream, [anEvent("Created")], { expectedRevision: NO_STREAM });
      const events = [anEvent("A"), anEvent("B")];
      const first = await store.append(stream, events, { expectedRevision: 0 });
      await store.append(stream, [anEvent("Later")], { expectedRevision: 2 });

      await expect(store.append(stream, events, { expectedRevision: 0 })).resolves.toEqual(first);
      expect((await store.read(stream)).map((event) => event.type)).toEqual(["Created", "A", "B", "Later"]);
    });

    it("is recognised for a new stream and for any revision too", async () => {
      const stream = uniqueStream("retry");
      const events = [anEvent("A"), anEvent("B")];
      const first = await store.append(stream, events, { expectedRevision: NO_STREAM });

      await expect(store.append(stream, events, { expectedRevision: NO_STREAM })).resolves.toEqual(first);
      await expect(store.append(stream, events, { expectedRevision: ANY })).resolves.toEqual(first);
      expect((await store.read(stream)).map((event) => event.id)).toEqual(events.map((event) => event.id));
    });

    it("is refused when the ids were written at another revision", async () => {
      const stream = uniqueStream("retry");
      const events = [anEvent("A")];
      await store.append(stream, events, { expectedRevision: NO_STREAM });

      expect(await conflictOf(store.append(stream, events, { expectedRevision: 3 }))).toMatchObject({ actualRevision: 0 });
    });
  });

  it("reads forwards and backwards from a revision, with a count", async () => {
    const stream = uniqueStream("s");
    await store.append(
      stream,
      ["E0", "E1", "E2", "E3", "E4"].map((type) => anEvent(type)),
      {
        expectedRevision: NO_STREAM,
      },
    );
    const types = (events: RecordedEvent[]) => events.map((event) => event.type);

    expect(types(await store.read(stream, { direction: "backwards" }))).toEqual(["E4", "E3", "E2", "E1", "E0"]);
    expect(types(await store.read(stream, { direction: "backwards", maxCount: 2 }))).toEqual(["E4", "E3"]);
    expect(types(await store.read(stream, { direction: "backwards", fromRevision: 2 }))).toEqual(["E2", "E1", "E0"]);
    expect(types(await store.read(stream, { fromRevision: 3 }))).toEqual(["E3", "E4"]);
    expect(types(await store.read(stream, { fromRevision: 1, maxCount: 2 }))).toEqual(["E1", "E2"]);
    expect(types(await store.read(stream, { fromRevision: 9 }))).toEqual([]);
  });

  it("reads a 10,000-event stream back in order", async () => {
    const stream = uniqueStream("long");
    for (let batch = 0; batch < 20; batch += 1) {
      const events = Array.from({ length: 500 }, (_, index) => anEvent("Counted", { n: batch * 500 + index }));
      await store.append(stream, events, { expectedRevision: batch === 0 ? NO_STREAM : batch * 500 - 1 });
    }

    const events = await store.read(stream);

    expect(events).toHaveLength(10_000);
    events.forEach((event, index) => {
      expect(event.revision).toBe(index);
      expect(event.data).toEqual({ n: index });
    });
  });

  it("keeps the global log in append order across streams, readable after a position", async () => {
    const [left, right] = [uniqueStream("left"), uniqueStream("right")];
    const appended: string[] = [];
    for (let round = 0; round < 5; round += 1) {
      for (const stream of [left, right]) {
        const event = anEvent("Ticked", { round });
        await store.append(stream, [event], { expectedRevision: round === 0 ? NO_STREAM : round - 1 });
        appended.push(event.id);
      }
    }

    const log = await globalLogOf(store, [left, right], origin);

    expect(log.map((event) => event.id)).toEqual(appended);
    log.slice(1).forEach((event, index) => expect(event.position > log[index]!.position).toBe(true));
    const afterThird = (await store.readAll({ after: log[2]!.position, maxCount: 1000 })).filter((event) => [left, right].includes(event.stream));
    expect(afterThird.map((event) => event.id)).toEqual(appended.slice(3));
    const page = await store.readAll({ after: log[2]!.position, maxCount: 2 });
    expect(page).toHaveLength(2);
  });

  it("leaves system ($-prefixed) streams out of the global log, still filling the page after them", async () => {
    const start = await store.append(uniqueStream("start"), [anEvent("Start")], { expectedRevision: NO_STREAM });
    for (let index = 0; index < 3; index += 1) {
      await store.append(`$checkpoint-${uniqueStream("relay")}`, [anEvent("$Checkpoint")], { expectedRevision: ANY });
    }
    const visible = anEvent("Visible");
    await store.append(uniqueStream("s"), [visible], { expectedRevision: NO_STREAM });

    const page = await store.readAll({ after: start.position, maxCount: 1 });

    expect(page.map((event) => event.id)).toEqual([visible.id]);
  });

  it("answers a ping", async () => {
    await expect(store.ping()).resolves.toBeUndefined();
  });

  describe("wakes readers after an append", () => {
    it("signals this process's append with its position, not a system stream's, and nothing once unsubscribed", async () => {
      const heard: (bigint | undefined)[] = [];
      const unsubscribe = store.onAppended((position) => heard.push(position));
      try {
        const system = await store.append(`$checkpoint-${uniqueStream("relay")}`, [anEvent("$Checkpoint")], { expectedRevision: ANY });
        const { position } = await store.append(uniqueStream("woken"), [anEvent("A"), anEvent("B")], { expectedRevision: NO_STREAM });

        await waitFor(() => heard.includes(position), { timeoutMs: 2000, what: "the append's position" });
        expect(heard).not.toContain(system.position);
      } finally {
        unsubscribe();
      }
      const { position: later } = await store.append(uniqueStream("unheard"), [anEvent("C")], { expectedRevision: NO_STREAM });
      await sleep(50);
      expect(heard).not.toContain(later);
    });

    it("calls each listener even when another throws", async () => {
      const heard: (bigint | undefined)[] = [];
      const unsubscribers = [
        store.onAppended(() => {
          throw new Error("a listener's own failure");
        }),
        store.onAppended((position) => heard.push(position)),
      ];
      try {
        const { position } = await store.append(uniqueStream("woken"), [anEvent("A")], { expectedRevision: NO_STREAM });
        await waitFor(() => heard.includes(position), { timeoutMs: 2000, what: "the second listener" });
      } finally {
        for (const unsubscribe of unsubscribers) unsubscribe();
      }
    });
  });

  describe("versioned events (domain/upcasting.ts)", () => {
    it("records on append the version the code writes, whatever the caller's metadata says, and reads an event at it as written", async () => {
      const stream = uniqueStream("saga");
      const started = {
        ...anEvent("SagaStarted", {
          orderId: "o-1",
          customerId: "c-1",
          amount: 2500,
          currency: "EUR",
          at: "2026-11-29T10:00:00.000Z",
          deadline: null,
          stepTimeoutMs: 60000,
          definition: 2,
        }),
        // Copied from another event: its version is not this event's.
        metadata: metadata({ schemaVersion: 7 }),
      };
      const succeeded = anEvent("SagaStepSucceeded", { orderId: "o-1", step: "checkFraud", at: "2026-11-29T10:00:01.000Z" });

      await store.append(stream, [started, succeeded], { expectedRevision: NO_STREAM });

      const expected = [
        { ...started, metadata: { ...started.metadata, schemaVersion: 3 }, stream, revision: 0 },
        { ...succeeded, metadata: { ...succeeded.metadata, schemaVersion: 1 }, stream, revision: 1 },
      ];
      expect((await adapter.read(stream)).map(asRead)).toEqual(expected);
      expect((await store.read(stream)).map(asRead)).toEqual(expected);
      expect((await globalLogOf(store, [stream], origin)).map(asRead)).toEqual(expected);
    });

    it("reads SagaStarted written at version 1 (schemaVersion absent or 1) at its current version 3, by read and readAll", async () => {
      const [unversioned, versionOne] = [uniqueStream("saga"), uniqueStream("saga")];
      const [before, atOne] = [sagaStartedV1("o-old"), sagaStartedV1("o-one", { schemaVersion: 1, actor: "alice" })];
      await adapter.append(unversioned, [before], { expectedRevision: NO_STREAM });
      await adapter.append(versionOne, [atOne], { expectedRevision: NO_STREAM });

      // v2 gave it null time limits, v3 the first saga definition, which every saga of then ran.
      const asVersion3 = (event: EventData, stream: string) => ({
        ...event,
        data: { ...event.data, deadline: null, stepTimeoutMs: null, definition: 1 },
        metadata: { ...event.metadata, schemaVersion: 3 },
        stream,
        revision: 0,
      });
      expect((await store.read(unversioned)).map(asRead)).toEqual([asVersion3(before, unversioned)]);
      expect((await store.read(versionOne, { direction: "backwards", maxCount: 1 })).map(asRead)).toEqual([asVersion3(atOne, versionOne)]);
      expect((await globalLogOf(store, [unversioned, versionOne], origin)).map(asRead)).toEqual([
        asVersion3(before, unversioned),
        asVersion3(atOne, versionOne),
      ]);
      // What is stored stays as it was written.
      expect((await adapter.read(unversioned))[0]!.data).toEqual(before.data);
    });

    it("refuses an event of a version newer than the code knows, by read and readAll, with an error naming it", async () => {
      // A store of its own: the unreadable event would stop every later read of the global log
      // across it (on a real server, read from where each run starts).
      const own = await fixture.open();
      try {
        const stream = uniqueStream("saga");
        const newer = { ...sagaStartedV1("o-new"), metadata: metadata({ schemaVersion: 4 }) };
        const { position: ownOrigin } = await own.adapter.append(uniqueStream("origin"), [anEvent("RunStarted")], { expectedRevision: NO_STREAM });
        await own.adapter.append(stream, [newer], { expectedRevision: NO_STREAM });

        for (const read of [() => own.store.read(stream), () => globalLogOf(own.store, [stream], ownOrigin)]) {
          const error = await read().then(
            () => undefined,
            (reason: unknown) => reason,
          );
          expect(error).toBeInstanceOf(UnreadableEvent);
          expect(error).toMatchObject({
            stream,
            revision: 0,
            eventId: newer.id,
            message: `event ${newer.id} (${stream}@0): SagaStarted at schema version 4: this code reads versions 1 to 3 of it`,
            cause: expect.any(UnknownSchemaVersion),
          });
        }
      } finally {
        await own.dispose();
      }
    });
  });

  describe("leases", () => {
    it("has one holder at a time: taken again only once released, each name on its own", async () => {
      const name = uniqueStream("lease");
      const first = await store.tryAcquireLease(name, 5000);
      expect(first).toBeDefined();
      expect(first!.lost.aborted).toBe(false);
      await expect(store.tryAcquireLease(name, 5000)).resolves.toBeUndefined();
      const other = await store.tryAcquireLease(uniqueStream("lease"), 5000);
      expect(other).toBeDefined();

      await first!.release();
      expect(first!.lost.aborted).toBe(true);
      const second = await store.tryAcquireLease(name, 5000);

      expect(second).toBeDefined();
      await Promise.all([second!.release(), other!.release()]);
    });

    it("goes to exactly one of 10 concurrent tries", async () => {
      const name = uniqueStream("lease");
      const tries = await Promise.all(Array.from({ length: 10 }, () => store.tryAcquireLease(name, 5000)));
      const held = tries.filter((lease) => lease !== undefined);

      expect(held).toHaveLength(1);
      await held[0]!.release();
    });

    it("stays with a holder that renews it for several TTLs", async () => {
      const name = uniqueStream("lease");
      const lease = await store.tryAcquireLease(name, 100);
      expect(lease).toBeDefined();

      await sleep(400);

      expect(lease!.lost.aborted).toBe(false);
      await expect(store.tryAcquireLease(name, 100)).resolves.toBeUndefined();
      await lease!.release();
    });
  });
});

describe("SqliteEventStore on disk", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "glitchbuster-sqlite-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("hands readers of the global log its recent events at the current version as they are, not copied", async () => {
    const store = createEventStore(`sqlite:${join(dir, "events.db")}`);
    try {
      await store.append("saga-o-1", [anEvent("SagaStepSucceeded", { orderId: "o-1", step: "checkFraud", at: "2026-11-29T10:00:01.000Z" })], {
        expectedRevision: NO_STREAM,
      });

      const [first, second] = [await store.readAll(), await store.readAll()];

      expect(first).toHaveLength(1);
      expect(second[0]).toBe(first[0]);
      expect(first[0]!.metadata.schemaVersion).toBe(1);
    } finally {
      await store.close();
    }
  });

  it("reads version 1 history from the file, after a restart, at the current version", async () => {
    const path = join(dir, "events.db");
    const before = new SqliteEventStore(path);
    const started = sagaStartedV1("o-1");
    await before.append("saga-o-1", [started], { expectedRevision: NO_STREAM });
    await before.close();

    // As index.ts builds it: nothing of the file is in its recent events, both reads parse rows.
    const reopened = createEventStore(`sqlite:${path}`);
    try {
      const expected = [
        { ...started, data: { ...started.data, deadline: null, stepTimeoutMs: null, definition: 1 }, metadata: { ...started.metadata, schemaVersion: 3 } },
      ];
      expect((await reopened.read("saga-o-1")).map(asRead)).toEqual(expected.map((event) => ({ ...event, stream: "saga-o-1", revision: 0 })));
      expect((await reopened.readAll()).map(asRead)).toEqual(expected.map((event) => ({ ...event, stream: "saga-o-1", revision: 0 })));
    } finally {
      await reopened.close();
    }
  });

  it("still has every event, in order, after being closed and reopened", async () => {
    const path = join(dir, "events.db");
    const first = new SqliteEventStore(path);
    const appended = [];
    for (let index = 0; index < 50; index += 1) {
      const event = anEvent("Counted", { n: index });
      appended.push(event);
      await first.append(`counter-${index % 3}`, [event], { expectedRevision: ANY });
    }
    await first.close();

    const reopened = new SqliteEventStore(path);
    const log = await reopened.readAll();
    await expect(reopened.append("counter-0", [anEvent("Late")], { expectedRevision: 16 })).resolves.toMatchObject({
      nextExpectedRevision: 17,
    });
    await reopened.close();

    expect(log.map((event) => event.id)).toEqual(appended.map((event) => event.id));
    expect(log.map((event) => event.data)).toEqual(appended.map((event) => event.data));
  });

  it("serialises appends from two connections to one file (two processes of the local cluster)", async () => {
    const path = join(dir, "events.db");
    const [one, two] = [new SqliteEventStore(path), new SqliteEventStore(path)];
    await one.append("shared", [anEvent("A")], { expectedRevision: NO_STREAM });

    await two.append("shared", [anEvent("B")], { expectedRevision: 0 });
    const conflict = await conflictOf(one.append("shared", [anEvent("C")], { expectedRevision: 0 }));

    expect(conflict.actualRevision).toBe(1);
    expect((await one.read("shared")).map((event) => event.type)).toEqual(["A", "B"]);
    await Promise.all([one.close(), two.close()]);
  });

  it("wakes a reader on another connection to the file (another process of the local cluster) when it is written", async () => {
    const path = join(dir, "events.db");
    const [reader, writer] = [new SqliteEventStore(path), new SqliteEventStore(path)];
    let wakes = 0;
    const unsubscribe = reader.onAppended(() => (wakes += 1));
    try {
      const started = performance.now();
      await writer.append(uniqueStream("s"), [anEvent("A")], { expectedRevision: NO_STREAM });
      await waitFor(() => wakes > 0, { timeoutMs: 1000, intervalMs: 1, what: "the reader's wake" });

      expect(performance.now() - started).toBeLessThan(200);
    } finally {
      unsubscribe();
      await Promise.all([reader.close(), writer.close()]);
    }
  });

  it("hands a lease on to another connection: when released, and when its holder stopped renewing it past its expiry", async () => {
    const path = join(dir, "events.db");
    const [one, two] = [new SqliteEventStore(path), new SqliteEventStore(path)];
    const held = await one.tryAcquireLease("relay", 300);
    expect(held).toBeDefined();
    await expect(two.tryAcquireLease("relay", 300)).resolves.toBeUndefined();
    await held!.release();
    const taken = await two.tryAcquireLease("relay", 300);
    expect(taken).toBeDefined();

    // A holder that died: its row stays, with an expiry it no longer renews.
    const dead = new Database(path);
    dead.prepare("UPDATE leases SET holder = 'dead', expires_at = ? WHERE name = 'relay'").run(Date.now() + 200);
    dead.close();
    await waitFor(() => taken!.lost.aborted, { timeoutMs: 1000, what: "the holder to find it taken" });
    await expect(one.tryAcquireLease("relay", 300)).resolves.toBeUndefined();
    await sleep(250);
    const after = await one.tryAcquireLease("relay", 300);

    expect(after).toBeDefined();
    await Promise.all([one.close(), two.close()]);
  });
});

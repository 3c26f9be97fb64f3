/**
 * What only the EventStoreDB adapter has to get right, through the real @kurrent/kurrentdb-client
 * against the in-process gRPC fake; the behaviour every store shares is in
 * event-store.contract.int.spec.ts. The fake leaves the legacy Append method unimplemented,
 * so every append here goes the BatchAppend way a current server serves.
 */
import { ANY, NO_STREAM } from "../../adapters/event-store/port";
import { EventStoreDbEventStore } from "../../adapters/event-store/eventstoredb";
import { leaseStreamOf } from "../../adapters/event-store/stream-lease";
import { startEventStoreDbFake, type EventStoreDbFake } from "../support/esdb-fake";
import { anEvent, uniqueStream } from "../support/events";

const idsOf = (events: readonly { id: string }[]) => events.map((event) => event.id);

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

  it("writes an append larger than the client's 3 MiB batch, which reaches the server in several requests", async () => {
    const stream = uniqueStream("large");
    const events = Array.from({ length: 4 }, (_, index) => anEvent("Blob", { index, payload: "x".repeat(1024 * 1024) }));

    const result = await store.append(stream, events, { expectedRevision: NO_STREAM });

    expect(result.nextExpectedRevision).toBe(3);
    expect(idsOf(await store.read(stream))).toEqual(idsOf(events));
  });

  it("leaves out system events from the global log, still filling the page with the events after them", async () => {
    const start = await store.append(uniqueStream("start"), [anEvent("Start")], { expectedRevision: NO_STREAM });
    await store.append(`$system-${uniqueStream("s")}`, [anEvent("Checked")], { expectedRevision: ANY });
    await store.append(uniqueStream("s"), [anEvent("$metadata")], { expectedRevision: ANY });
    const visible = anEvent("Visible");
    await store.append(uniqueStream("s"), [visible], { expectedRevision: ANY });

    expect(idsOf(await store.readAll({ after: start.position, maxCount: 1 }))).toEqual([visible.id]);
  });

  it("keeps a lease as a stream: another process's lease is respected until it expires, then taken; the holder learns it lost it", async () => {
    const name = uniqueStream("relay");
    const other = (expiresAt: number) => ({ ...anEvent("$Lease", { holder: "another-process", expiresAt }), type: "$Lease" });
    await store.append(leaseStreamOf(name), [other(Date.now() + 60_000)], { expectedRevision: NO_STREAM });
    await expect(store.tryAcquireLease(name, 200)).resolves.toBeUndefined();

    // That holder died: its expiry passes without a renewal.
    await store.append(leaseStreamOf(name), [other(Date.now() - 1)], { expectedRevision: ANY });
    const lease = await store.tryAcquireLease(name, 200);
    expect(lease).toBeDefined();

    // Another process wrote over it (a clock ahead, say): the next renewal finds out.
    await store.append(leaseStreamOf(name), [other(Date.now() + 60_000)], { expectedRevision: ANY });
    const deadline = Date.now() + 1000;
    while (!lease!.lost.aborted && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    expect((lease!.lost.reason as Error).message).toMatch(/another holder/);
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

import { randomUUID } from "node:crypto";
import { AppendResult, EventStore, NO_STREAM, RecordedEvent } from "../../adapters/event-store";
import { RebuildLost, RebuildRunning, View, ViewDefinition } from "../../adapters/read-model";
import { Order, OrderEvent } from "../../domain/order";
import { ORDERS_VIEW } from "../../adapters/read-model/orders-view";
import { Projector } from "../../adapters/read-model/projector";
import { metadata } from "../support/events";
import { OpenReadModel, readModelFixtures } from "../support/read-models";
import { waitFor } from "../../tools/wait-for";

type Placed = Exclude<Order, { status: "initial" }>;

const CREATED_AT = "2026-11-29T10:00:00.000Z";

/** The position of the last event the running test appended. */
let appendedUpTo = 0n;
function appended(result: AppendResult): void {
  if (result.position > appendedUpTo) appendedUpTo = result.position;
}

async function place(log: EventStore, customerId = "c-1", id = randomUUID()): Promise<string> {
  const data: Extract<OrderEvent, { type: "OrderCreated" }>["data"] = {
    orderId: id,
    customerId,
    currency: "EUR",
    items: [{ productId: "p-ü", quantity: 2, unitPrice: 150 }],
    total: 300,
    createdAt: CREATED_AT,
  };
  appended(await log.append(`order-${id}`, [{ id: randomUUID(), type: "OrderCreated", data, metadata: metadata() }], { expectedRevision: NO_STREAM }));
  return id;
}

async function cancel(log: EventStore, id: string): Promise<void> {
  const data = { orderId: id, reason: null, cancelledAt: CREATED_AT };
  appended(await log.append(`order-${id}`, [{ id: randomUUID(), type: "OrderCancelled", data, metadata: metadata() }], { expectedRevision: 0 }));
}

/** Something of another kind in the log: moves the checkpoint, makes no row. */
async function unrelated(log: EventStore): Promise<void> {
  appended(
    await log.append(`saga-${randomUUID()}`, [{ id: randomUUID(), type: "SagaStarted", data: {}, metadata: metadata() }], { expectedRevision: NO_STREAM }),
  );
}

/**
 * Catches up until the view has folded every event the test appended. A pass folds what the
 * log shows, and PostgreSQL shows an event only once every older transaction of the server has
 * ended: another suite's database may hold one for a moment (CI saw it), and the next pass folds it.
 */
async function foldedAll<State>(projector: Projector<State>, view: View<State>): Promise<void> {
  await waitFor(
    async () => {
      await projector.catchUp();
      return (await view.checkpoint()) >= appendedUpTo;
    },
    { what: "the view to fold every event the test appended" },
  );
}

/**
 * The global log once it shows every event the test appended: PostgreSQL shows an event once
 * every older transaction of the server has ended, another database's included.
 */
async function visibleLog(log: EventStore): Promise<RecordedEvent[]> {
  return waitFor(
    async () => {
      const events = await log.readAll();
      return events.length > 0 && events[events.length - 1]!.position >= appendedUpTo && events;
    },
    { what: "the log to show every event the test appended" },
  );
}

async function caughtUp<State>(log: EventStore, view: View<State>): Promise<void> {
  const projector = new Projector(log, view);
  await projector.start();
  await foldedAll(projector, view);
}

async function everyPage<State>(view: View<State>, filter: Record<string, string | undefined>, limit: number, between: () => Promise<void> = async () => {}) {
  const pages: State[][] = [];
  let before: bigint | undefined;
  for (;;) {
    const { rows, more } = await view.list({ filter, before, limit });
    pages.push(rows.map((row) => row.state));
    if (!more) return pages;
    before = rows[rows.length - 1]!.key;
    await between();
  }
}

const idsOf = (orders: Order[]) => orders.map((order) => (order as Placed).id);

function recorded(stream: string, type: string, data: Record<string, unknown>, position: bigint): RecordedEvent {
  return { id: randomUUID(), stream, revision: 0, type, data, metadata: metadata(), position };
}

describe.each(readModelFixtures)("ReadModelStore contract: $name", (fixture) => {
  let opened: OpenReadModel;
  let log: EventStore;
  let view: View<Order>;

  beforeEach(async () => {
    appendedUpTo = 0n;
    opened = await fixture.open();
    log = opened.log;
    view = await opened.store.view(ORDERS_VIEW);
  });
  afterEach(() => opened.dispose());

  it("folds the log into one row per order: the order as its decider folds it, newest first, filtered by columns", async () => {
    const ids: string[] = [];
    for (let index = 0; index < 6; index += 1) {
      ids.push(await place(log, `c-${index % 2}`));
      await unrelated(log);
    }
    await cancel(log, ids[1]!);
    await cancel(log, ids[4]!);
    await caughtUp(log, view);

    const all = await view.list({ filter: {}, limit: 100 });
    expect(idsOf(all.rows.map((row) => row.state))).toEqual([...ids].reverse());
    expect(all.more).toBe(false);
    expect(all.rows[0]!.state).toEqual({
      status: "pending",
      id: ids[5],
      customerId: "c-1",
      currency: "EUR",
      items: [{ productId: "p-ü", quantity: 2, unitPrice: 150 }],
      total: 300,
      createdAt: CREATED_AT,
    });
    // The document keeps the key order it was written with (PostgreSQL: json, not jsonb).
    expect(Object.keys(all.rows[0]!.state)).toEqual(["status", "id", "customerId", "currency", "items", "total", "createdAt"]);
    expect(idsOf((await view.list({ filter: { status: "cancelled" }, limit: 100 })).rows.map((row) => row.state))).toEqual([ids[4], ids[1]]);
    expect(idsOf((await view.list({ filter: { customer_id: "c-0" }, limit: 100 })).rows.map((row) => row.state))).toEqual([ids[4], ids[2], ids[0]]);
    expect(idsOf((await view.list({ filter: { customer_id: "c-1", status: "pending" }, limit: 100 })).rows.map((row) => row.state))).toEqual([ids[5], ids[3]]);
    expect(await view.list({ filter: { status: "confirmed" }, limit: 100 })).toEqual({ rows: [], more: false });
    expect(await view.counts()).toEqual({ pending: 4, cancelled: 2 });
  });

  it("pages by key without a duplicate or a gap, also while orders are placed between the pages", async () => {
    const ids: string[] = [];
    for (let index = 0; index < 40; index += 1) ids.push(await place(log, `c-${index % 3}`));
    await caughtUp(log, view);
    const projector = new Projector(log, view);
    await projector.start();

    // Between two pages, 5 orders are placed (one of them by the same customer) and folded.
    const placedMeanwhile: string[] = [];
    const meanwhile = async () => {
      const placing = Array.from({ length: 5 }, (_, index) => place(log, `c-${index % 3}`));
      placedMeanwhile.push(...(await Promise.all(placing)));
      await foldedAll(projector, view);
    };
    const pages = await everyPage(view, {}, 7, meanwhile);
    const byCustomer = await everyPage(view, { customer_id: "c-1" }, 3, meanwhile);

    expect(pages.map((page) => page.length)).toEqual([7, 7, 7, 7, 7, 5]);
    expect(idsOf(pages.flat())).toEqual([...ids].reverse());
    expect(new Set(idsOf(byCustomer.flat())).size).toBe(byCustomer.flat().length);
    // Every order of c-1 that existed when the first page was read, once, newest first.
    expect(idsOf(byCustomer.flat()).filter((id) => ids.includes(id))).toEqual(ids.filter((_, index) => index % 3 === 1).reverse());
    expect((await view.counts()).pending).toBe(40 + placedMeanwhile.length);
  });

  it("folds each event once when projectors of two nodes catch up at the same time", async () => {
    const ids = await Promise.all(Array.from({ length: 120 }, (_, index) => place(log, `c-${index % 4}`)));
    for (const id of ids.slice(0, 30)) await cancel(log, id);
    const other = await opened.another().view(ORDERS_VIEW);
    const projectors = [new Projector(log, view, 25), new Projector(log, other, 25), new Projector(log, view, 10)];
    await Promise.all(projectors.map((projector) => projector.start()));

    await Promise.all(projectors.map((projector) => foldedAll(projector, view)));

    expect(await view.counts()).toEqual({ pending: 90, cancelled: 30 });
    expect(await other.counts()).toEqual({ pending: 90, cancelled: 30 });
    expect((await view.list({ filter: {}, limit: 1000 })).rows).toHaveLength(120);
  });

  it("writes nothing for a batch read after a checkpoint that has moved since", async () => {
    await place(log, "c-1");
    const events = await visibleLog(log);
    expect(await view.apply(0n, events)).toBe(events[0]!.position);

    expect(await view.apply(0n, events)).toBe(events[0]!.position);
    expect(await view.counts()).toEqual({ pending: 1 });
    expect(await view.checkpoint()).toBe(events[0]!.position);
  });

  it("writes neither rows nor checkpoint when folding a batch fails", async () => {
    const poisoned: ViewDefinition<Order> = {
      ...ORDERS_VIEW,
      // A state that is not JSON (a bigint): its batch fails while its rows are staged.
      evolve: (order, event) => (event.type === "Poison" ? Object.assign({}, order, { poison: 1n }) : ORDERS_VIEW.evolve(order, event)),
    };
    const poisonedView = await opened.store.view(poisoned);
    const first = await place(log, "c-1");
    await place(log, "c-2");
    appended(await log.append(`order-${first}`, [{ id: randomUUID(), type: "Poison", data: {}, metadata: metadata() }], { expectedRevision: 0 }));
    const events = await visibleLog(log);

    await expect(poisonedView.apply(0n, events)).rejects.toThrow(/BigInt/);

    expect(await view.checkpoint()).toBe(0n);
    expect(await view.list({ filter: {}, limit: 10 })).toEqual({ rows: [], more: false });
    expect(await view.counts()).toEqual({});
    await expect(poisonedView.apply(0n, events.slice(0, 2))).resolves.toBe(events[1]!.position);
    expect(await view.counts()).toEqual({ pending: 2 });
  });

  // Memory has no such step: a batch is folded and serialised before anything is written.
  // The memory view has no separate checkpoint write to fail: it folds a batch before writing any of it.
  (fixture.name === "memory" ? it.skip : it)("rolls the rows back with the checkpoint when the checkpoint's write fails after them", async () => {
    const ids = [await place(log, "c-1"), await place(log, "c-2")];
    const events = await visibleLog(log);
    const restore = await opened.failCheckpointWrites!();
    try {
      await expect(view.apply(0n, events)).rejects.toThrow(/checkpoint write failed/);
      expect(await view.list({ filter: {}, limit: 10 })).toEqual({ rows: [], more: false });
      expect(await view.counts()).toEqual({});
      expect(await view.checkpoint()).toBe(0n);
    } finally {
      await restore();
    }
    await caughtUp(log, view);
    expect(idsOf((await view.list({ filter: {}, limit: 10 })).rows.map((row) => row.state))).toEqual([...ids].reverse());
  });

  it("keeps every bit of positions near 2^62 (PostgreSQL's are transaction ids << 16) in keys and checkpoints", async () => {
    const base = 2n ** 62n + 12_345n;
    const [a, b] = [randomUUID(), randomUUID()];
    const created = (id: string) => ({ orderId: id, customerId: "c", currency: "EUR", items: [], total: 0, createdAt: CREATED_AT });
    const events = [recorded(`order-${a}`, "OrderCreated", created(a), base), recorded(`order-${b}`, "OrderCreated", created(b), base + 1n)];

    expect(await view.apply(0n, events)).toBe(base + 1n);

    expect(await view.checkpoint()).toBe(base + 1n);
    const page = await view.list({ filter: {}, limit: 1 });
    expect(page.rows.map((row) => row.key)).toEqual([base + 1n]);
    expect((await view.list({ filter: {}, before: base + 1n, limit: 1 })).rows.map((row) => row.key)).toEqual([base]);
  });

  describe("rebuild", () => {
    const now = () => new Date();
    const staleAfterMs = 30_000;

    it("fills a new table from position 0 beside the one served, then swaps it in with its checkpoint", async () => {
      const ids = [await place(log, "c-1"), await place(log, "c-2"), await place(log, "c-1")];
      await cancel(log, ids[0]!);
      await caughtUp(log, view);
      const served = await view.list({ filter: {}, limit: 10 });
      const head = await view.checkpoint();

      const started = await view.startRebuild("node-a/1", head, { now: now(), staleAfterMs });
      expect(started).toMatchObject({ status: "rebuilding", owner: "node-a/1", position: 0n, target: head, first: null });
      const events = await visibleLog(log);
      await view.applyToRebuild("node-a/1", 0n, events.slice(0, 2), now());
      expect(await view.rebuildState()).toMatchObject({ status: "rebuilding", position: events[1]!.position, first: events[0]!.position, rows: 2 });
      // The table served is untouched meanwhile.
      expect(await view.list({ filter: {}, limit: 10 })).toEqual(served);
      await view.applyToRebuild("node-a/1", events[1]!.position, events.slice(2), now());

      expect(await view.swap("node-a/1", now())).toBe(true);

      expect(await view.list({ filter: {}, limit: 10 })).toEqual(served);
      expect(await view.counts()).toEqual({ pending: 2, cancelled: 1 });
      expect(await view.checkpoint()).toBe(head);
      expect(await view.rebuildState()).toMatchObject({ status: "done", rows: 3, finishedAt: expect.any(String) });
      // The next rebuild starts over beside the new table (index names do not collide).
      await view.startRebuild("node-a/1", head, { now: now(), staleAfterMs });
      await view.applyToRebuild("node-a/1", 0n, await visibleLog(log), now());
      expect(await view.swap("node-a/1", now())).toBe(true);
      expect(await view.list({ filter: {}, limit: 10 })).toEqual(served);
    });

    it("does not swap in a table behind the one served: the checkpoint never moves back", async () => {
      await place(log);
      await caughtUp(log, view);
      await view.startRebuild("node-a/1", await view.checkpoint(), { now: now(), staleAfterMs });
      const events = await visibleLog(log);
      await view.applyToRebuild("node-a/1", 0n, events, now());
      await place(log);
      await caughtUp(log, view);

      expect(await view.swap("node-a/1", now())).toBe(false);

      const more = await log.readAll({ after: events[0]!.position });
      await view.applyToRebuild("node-a/1", events[0]!.position, more, now());
      expect(await view.swap("node-a/1", now())).toBe(true);
      expect(await view.counts()).toEqual({ pending: 2 });
    });

    it("lets one owner rebuild at a time, until it goes silent; the owner it replaced is told so", async () => {
      await place(log);
      const t0 = new Date("2026-11-29T10:00:00.000Z");
      await view.startRebuild("node-a/1", 0n, { now: t0, staleAfterMs });

      await expect(view.startRebuild("node-b/1", 0n, { now: new Date(t0.getTime() + 1000), staleAfterMs })).rejects.toThrow(RebuildRunning);
      await view.startRebuild("node-b/1", 0n, { now: new Date(t0.getTime() + staleAfterMs + 1), staleAfterMs });

      await expect(view.applyToRebuild("node-a/1", 0n, await visibleLog(log), now())).rejects.toThrow(RebuildLost);
      await expect(view.swap("node-a/1", now())).rejects.toThrow(RebuildLost);
      await view.endRebuild("node-b/1", "interrupted", "stopped", now());
      expect(await view.rebuildState()).toMatchObject({ status: "interrupted", owner: "node-b/1", error: "stopped", rows: 0 });
      await expect(view.swap("node-b/1", now())).rejects.toThrow(RebuildLost);
    });
  });
});

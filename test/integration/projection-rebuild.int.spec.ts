import { randomUUID } from "node:crypto";
import { setImmediate as nextTurn } from "node:timers/promises";
import { EventStore, NO_STREAM } from "../../adapters/event-store";
import { MemoryReadModelStore } from "../../adapters/read-model/memory";
import { Order } from "../../domain/order";
import { ORDERS_VIEW } from "../../adapters/read-model/orders-view";
import { Projection, ProjectionReport } from "../../adapters/read-model/projection";
import { Projector } from "../../adapters/read-model/projector";
import { metadata } from "../support/events";
import { OpenReadModel, readModelFixtures } from "../support/read-models";

const SEEDED = 300;
const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };

async function place(log: EventStore, index: number): Promise<string> {
  const id = randomUUID();
  const data = {
    orderId: id,
    customerId: `c-${index % 7}`,
    currency: "EUR",
    items: [{ productId: "p", quantity: 1, unitPrice: index }],
    total: index,
    createdAt: new Date().toISOString(),
  };
  await log.append(`order-${id}`, [{ id: randomUUID(), type: "OrderCreated", data, metadata: metadata() }], { expectedRevision: NO_STREAM });
  return id;
}

async function cancel(log: EventStore, id: string): Promise<void> {
  const data = { orderId: id, reason: "changed my mind", cancelledAt: new Date().toISOString() };
  await log.append(`order-${id}`, [{ id: randomUUID(), type: "OrderCancelled", data, metadata: metadata() }], { expectedRevision: 0 });
}

/** The whole list as a projection made from scratch (in memory) folds the same log. */
async function freshProjection(log: EventStore): Promise<{ rows: Order[]; counts: Record<string, number> }> {
  const view = await new MemoryReadModelStore().view(ORDERS_VIEW);
  const projector = new Projector(log, view);
  await projector.start();
  await projector.catchUp();
  return { rows: (await view.list({ filter: {}, limit: 100_000 })).rows.map((row) => row.state), counts: await view.counts() };
}

describe.each(readModelFixtures)("projection rebuild on $name", (fixture) => {
  let opened: OpenReadModel;
  let projection: Projection<Order> | undefined;

  beforeEach(async () => {
    opened = await fixture.open();
  });
  afterEach(async () => {
    await projection?.stop();
    projection = undefined;
    await opened.dispose();
  });

  it("rebuilds under concurrent reads and writes, ends with the rows of a fresh projection, and no read fails", async () => {
    const { log, store } = opened;
    const seeded = await Promise.all(Array.from({ length: SEEDED }, (_, index) => place(log, index)));
    await Promise.all(seeded.filter((_, index) => index % 5 === 0).map((id) => cancel(log, id)));
    // Small batches: the rebuild takes many turns, between which reads and writes go on.
    projection = await Projection.open("orders", log, store, ORDERS_VIEW, { followMs: 20, batchSize: 10, logger: silent });
    const before = await projection.all({});

    const started = await projection.rebuild("node-a/1");
    const done = projection.rebuildDone();
    let rebuilding = true;
    void done.finally(() => (rebuilding = false));

    const failures: unknown[] = [];
    const reports: ProjectionReport[] = [];
    let readsDuringRebuild = 0;
    let written = 0;
    const reader = async (filter: Record<string, string>) => {
      while (rebuilding) {
        try {
          const page = await projection!.list(filter, 20);
          if (rebuilding) readsDuringRebuild += 1;
          if (page.nextCursor) await projection!.list(filter, 20, page.nextCursor);
          await projection!.counts();
          reports.push(await projection!.report());
        } catch (error) {
          failures.push(error);
        }
        // The memory adapters answer without I/O: a loop that never yields would starve the rebuild.
        await nextTurn();
      }
    };
    const writer = async () => {
      while (rebuilding) {
        const id = await place(log, SEEDED + written);
        if (written % 3 === 0) await cancel(log, id);
        written += 1;
        await nextTurn();
      }
    };
    await Promise.all([reader({}), reader({ status: "cancelled" }), reader({ customer_id: "c-3" }), writer(), done]);

    expect(failures).toEqual([]);
    expect(started).toMatchObject({ status: "rebuilding", position: "0", rows: 0, startedAt: expect.any(String) });
    expect(readsDuringRebuild).toBeGreaterThan(5);
    expect(written).toBeGreaterThan(0);
    const during = reports.filter((report) => report.status === "rebuilding");
    expect(during.length).toBeGreaterThan(0);
    for (const [earlier, later] of during.slice(1).map((report, index) => [during[index]!, report] as const)) {
      expect(later.progress!).toBeGreaterThanOrEqual(earlier.progress!);
      expect(later.rows).toBeGreaterThanOrEqual(earlier.rows);
    }
    const report = await projection.report();
    expect(report).toMatchObject({ status: "done", progress: 1, finishedAt: expect.any(String), error: null });

    await projection.catchUp();
    const rows = await projection.all({});
    const counts = await projection.counts();
    expect((await projection.report()).rows).toBe(SEEDED + written);
    // Stopped before the fresh projection reads the log: on PostgreSQL, a write transaction of
    // the projection in flight would hide the events appended after it began from that read.
    await projection.stop();
    const fresh = await freshProjection(log);
    expect(rows).toEqual(fresh.rows);
    expect(rows.length).toBe(SEEDED + written);
    expect(rows.slice(written)).toEqual(before);
    expect(counts).toEqual(fresh.counts);
  });

  it("a stop during a rebuild leaves the table served as it was, and the rebuild reported interrupted", async () => {
    const { log, store } = opened;
    await Promise.all(Array.from({ length: 200 }, (_, index) => place(log, index)));
    projection = await Projection.open("orders", log, store, ORDERS_VIEW, { followMs: 1000, batchSize: 10, logger: silent });
    const served = await projection.all({});

    await projection.rebuild("node-a/1");
    await projection.stop();

    expect(await projection.report()).toMatchObject({ status: "interrupted", rows: 200, error: "the node running it stopped" });
    expect(await projection.all({})).toEqual(served);
    projection = undefined;
  });
});

import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Errors, ServiceBroker } from "moleculer";
import { waitFor } from "../../tools/wait-for";
import { ProjectionReport } from "../../adapters/read-model/projection";
import { dlqService } from "../../services/dlq.service";
import { PlacedOrder, ordersService } from "../../services/orders.service";
import { startEventStoreDbFake } from "../support/esdb-fake";

const placement = (customerId: string) => ({ customerId, currency: "EUR", items: [{ productId: "p", quantity: 1, unitPrice: 100 }] });
type Page = { items: PlacedOrder[]; nextCursor: string | null };

async function rejection(attempt: Promise<unknown>): Promise<Errors.MoleculerError> {
  const error = await attempt.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(Errors.MoleculerError);
  return error as Errors.MoleculerError;
}

async function everyOrder(broker: ServiceBroker, filter: object = {}): Promise<PlacedOrder[]> {
  const orders: PlacedOrder[] = [];
  let cursor: string | null = null;
  do {
    const page: Page = await broker.call("orders.list", { ...filter, limit: 100, ...(cursor ? { cursor } : {}) });
    orders.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor);
  return orders;
}

describe("read models of the orders and dlq services (SQLite store, tables in its file)", () => {
  let dir: string;
  let url: string;
  let broker: ServiceBroker;

  const start = async () => {
    broker = new ServiceBroker({ logger: false });
    broker.createService(ordersService({ eventStoreUrl: url }));
    broker.createService(dlqService({ eventStoreUrl: url, bus: { url: "memory:", namespace: `test-${randomUUID()}` } }));
    await broker.start();
  };

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "glitchbuster-projections-"));
    url = `sqlite:${join(dir, "events.db")}`;
    await start();
  });
  afterEach(async () => {
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("reports each projection: never rebuilt, its checkpoint and its rows", async () => {
    const created = await broker.call<PlacedOrder, object>("orders.create", placement("c-1"));
    await broker.call("orders.cancel", { id: created.id });

    const orders = await broker.call<ProjectionReport, object>("orders.projection", {});
    const deadLetters = await broker.call<ProjectionReport, object>("dlq.projection", {});

    expect(orders).toEqual({
      name: "orders",
      status: "idle",
      position: expect.stringMatching(/^[1-9]\d*$/),
      rows: 1,
      startedAt: null,
      finishedAt: null,
      target: null,
      progress: null,
      error: null,
    });
    expect(deadLetters).toMatchObject({ name: "dead-letters", status: "idle", rows: 0 });
    expect(await broker.call("orders.stats", {})).toEqual({ pending: 0, confirmed: 0, rejected: 0, cancelled: 1 });
  });

  it("rebuilds the order list while it serves: one rebuild at a time (409), then the same list, with progress to the end", async () => {
    const ids: string[] = [];
    for (let index = 0; index < 60; index += 1) ids.push((await broker.call<PlacedOrder, object>("orders.create", placement(`c-${index % 3}`))).id);
    for (const id of ids.slice(0, 12)) await broker.call("orders.cancel", { id });
    const before = await everyOrder(broker);
    const cursor = (await broker.call<Page, object>("orders.list", { limit: 10 })).nextCursor!;

    const [first, second] = await Promise.allSettled([
      broker.call<ProjectionReport, object>("orders.rebuildProjection", {}),
      broker.call<ProjectionReport, object>("orders.rebuildProjection", {}),
    ]);
    const during = await broker.call<Page, object>("orders.list", { limit: 100 });

    expect(first).toMatchObject({ status: "fulfilled", value: { name: "orders", status: "rebuilding", position: "0", rows: 0, progress: 0 } });
    expect(second).toMatchObject({ status: "rejected", reason: { code: 409, type: "PROJECTION_REBUILD_RUNNING", data: { projection: "orders" } } });
    expect(during.items).toEqual(before);
    const done = await waitFor(
      async () => {
        const report = await broker.call<ProjectionReport, object>("orders.projection", {});
        return report.status === "done" ? report : undefined;
      },
      { what: "the rebuild to end" },
    );
    expect(done).toMatchObject({ status: "done", rows: 60, progress: 1, startedAt: expect.any(String), finishedAt: expect.any(String) });
    expect(await everyOrder(broker)).toEqual(before);
    expect((await broker.call<Page, object>("orders.list", { limit: 10, cursor })).items).toEqual(before.slice(10, 20));
    expect(await broker.call("orders.stats", {})).toEqual({ pending: 48, confirmed: 0, rejected: 0, cancelled: 12 });
  });

  it("keeps the lists across a restart: the next start folds only what the log gained", async () => {
    const first = await broker.call<PlacedOrder, object>("orders.create", placement("c-1"));
    const before = await broker.call<ProjectionReport, object>("orders.projection", {});
    await broker.stop();
    await start();

    const second = await broker.call<PlacedOrder, object>("orders.create", placement("c-1"));

    expect((await everyOrder(broker)).map((order) => order.id)).toEqual([second.id, first.id]);
    expect(BigInt((await broker.call<ProjectionReport, object>("orders.projection", {})).position)).toBeGreaterThan(BigInt(before.position));
  });

  it("refuses a cursor of the DLQ list on the order list, and one with a changed character", async () => {
    for (let index = 0; index < 3; index += 1) await broker.call("orders.create", placement("c-1"));
    const { nextCursor } = await broker.call<Page, object>("orders.list", { limit: 1 });
    const changed = `${nextCursor!.slice(0, 5)}${nextCursor![5] === "A" ? "B" : "A"}${nextCursor!.slice(6)}`;

    expect(await rejection(broker.call("orders.list", { cursor: changed }))).toMatchObject({ code: 422, type: "VALIDATION_ERROR" });
    expect(await rejection(broker.call("dlq.list", { cursor: nextCursor }))).toMatchObject({ code: 422, type: "VALIDATION_ERROR" });
  });
});

describe("read models beside EventStoreDB (the gRPC fake), in READ_MODEL_URL's SQLite file", () => {
  it("lists and counts from the file across a restart", async () => {
    const fake = await startEventStoreDbFake();
    const dir = mkdtempSync(join(tmpdir(), "glitchbuster-esdb-rm-"));
    const readModelUrl = `sqlite:${join(dir, "read-models.db")}`;
    const start = async () => {
      const broker = new ServiceBroker({ logger: false });
      broker.createService(ordersService({ eventStoreUrl: fake.url, readModelUrl }));
      await broker.start();
      return broker;
    };
    try {
      let broker = await start();
      const first = await broker.call<PlacedOrder, object>("orders.create", placement("c-1"));
      await broker.call("orders.cancel", { id: first.id });
      await broker.stop();
      broker = await start();
      const second = await broker.call<PlacedOrder, object>("orders.create", placement("c-2"));

      expect((await everyOrder(broker)).map((order) => [order.id, order.status])).toEqual([
        [second.id, "pending"],
        [first.id, "cancelled"],
      ]);
      expect(await broker.call("orders.stats", {})).toEqual({ pending: 1, confirmed: 0, rejected: 0, cancelled: 1 });
      await broker.stop();
    } finally {
      await fake.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

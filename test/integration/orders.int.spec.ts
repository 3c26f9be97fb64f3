import { randomUUID } from "node:crypto";
import { timeOrderedUuid } from "../../services/shared/ids";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Errors, ServiceBroker } from "moleculer";
import { EventStore, acquireEventStore, releaseEventStore } from "../../adapters/event-store";
import { ordersService } from "../../services/orders.service";
import { globalLog } from "../support/embedded-app";

const ISO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const placement = {
  customerId: "c-42",
  currency: "EUR",
  items: [
    { productId: "book", quantity: 2, unitPrice: 1250 },
    { productId: "pen", quantity: 3, unitPrice: 199 },
  ],
};

interface OrderView {
  id: string;
  status: string;
  customerId: string;
  total: number;
}

async function rejection(attempt: Promise<unknown>): Promise<Errors.MoleculerError> {
  const error = await attempt.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(Errors.MoleculerError);
  return error as Errors.MoleculerError;
}

describe("orders service", () => {
  let broker: ServiceBroker;
  let store: EventStore;
  const url = `memory:${randomUUID()}`;

  beforeAll(async () => {
    broker = new ServiceBroker({ logger: false });
    broker.createService(ordersService({ eventStoreUrl: url }));
    store = acquireEventStore(url);
    await broker.start();
  });
  afterAll(async () => {
    await broker.stop();
    await releaseEventStore(url);
  });

  const create = (params: object = placement) => broker.call<OrderView, object>("orders.create", params);

  it("create appends exactly one OrderCreated with its metadata and answers the pending order", async () => {
    const order = await create();

    expect(order).toEqual({
      status: "pending",
      id: expect.stringMatching(UUID),
      customerId: "c-42",
      currency: "EUR",
      items: placement.items,
      total: 3097,
      createdAt: expect.stringMatching(ISO_TIME),
    });
    const events = await store.read(`order-${order.id}`);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      type: "OrderCreated",
      revision: 0,
      data: { orderId: order.id, customerId: "c-42", currency: "EUR", items: placement.items, total: 3097 },
      metadata: {
        correlationId: expect.any(String),
        causationId: expect.any(String),
        occurredAt: (order as unknown as { createdAt: string }).createdAt,
      },
    });
    expect(events[0]!.id).toMatch(UUID);
  });

  it("refuses invalid params with a ValidationError naming the fields, appending nothing", async () => {
    const before = (await globalLog(store)).length;

    const error = await rejection(create({ customerId: "", currency: "eur", items: [{ productId: "p", quantity: 0, unitPrice: -1, extra: 1 }] }));

    expect(error).toBeInstanceOf(Errors.ValidationError);
    expect(error.code).toBe(422);
    expect((error.data as { field: string }[]).map((failure) => failure.field).sort()).toEqual([
      "currency",
      "customerId",
      "items[0]",
      "items[0].quantity",
      "items[0].unitPrice",
    ]);
    expect((await globalLog(store)).length).toBe(before);
  });

  it("refuses a total too large to be exact with a 422, appending nothing", async () => {
    const before = (await globalLog(store)).length;
    const error = await rejection(create({ ...placement, items: [{ productId: "p", quantity: 1000, unitPrice: Number.MAX_SAFE_INTEGER }] }));
    expect(error).toMatchObject({ code: 422, type: "ORDER_TOTAL_TOO_LARGE" });
    expect(error).toBeInstanceOf(Errors.MoleculerClientError);
    expect((await globalLog(store)).length).toBe(before);
  });

  it("get answers the order and 404 ORDER_NOT_FOUND for an unknown id", async () => {
    const order = await create();
    await expect(broker.call("orders.get", { id: order.id })).resolves.toEqual(order);
    expect(await rejection(broker.call("orders.get", { id: randomUUID() }))).toMatchObject({
      code: 404,
      type: "ORDER_NOT_FOUND",
    });
  });

  describe("state changes", () => {
    it("cancel appends OrderCancelled; a second cancel is a 409 and appends nothing", async () => {
      const order = await create();

      const cancelled = await broker.call("orders.cancel", { id: order.id, reason: "changed my mind" });
      const again = await rejection(broker.call("orders.cancel", { id: order.id }));

      expect(cancelled).toMatchObject({ status: "cancelled", reason: "changed my mind", cancelledAt: expect.stringMatching(ISO_TIME) });
      expect(again).toMatchObject({ code: 409, type: "ORDER_ALREADY_CANCELLED" });
      expect((await store.read(`order-${order.id}`)).map((event) => event.type)).toEqual(["OrderCreated", "OrderCancelled"]);
    });

    it("confirm and reject (the saga's steps) append their events", async () => {
      const [toConfirm, toReject] = [await create(), await create()];

      await broker.call("orders.confirm", { id: toConfirm.id });
      await broker.call("orders.reject", { id: toReject.id, reason: "FRAUD_REJECTED" });

      expect((await store.read(`order-${toConfirm.id}`)).map((event) => event.type)).toEqual(["OrderCreated", "OrderConfirmed"]);
      const rejected = await store.read(`order-${toReject.id}`);
      expect(rejected[1]).toMatchObject({ type: "OrderRejected", data: { orderId: toReject.id, reason: "FRAUD_REJECTED" } });
      expect(await rejection(broker.call("orders.cancel", { id: toConfirm.id }))).toMatchObject({
        code: 409,
        type: "ORDER_ALREADY_CONFIRMED",
      });
    });

    it("lets exactly one of 20 concurrent cancels through; the others are 409s", async () => {
      const order = await create();

      const outcomes = await Promise.allSettled(Array.from({ length: 20 }, () => broker.call("orders.cancel", { id: order.id })));

      expect(outcomes.filter((outcome) => outcome.status === "fulfilled")).toHaveLength(1);
      for (const outcome of outcomes) {
        if (outcome.status === "rejected") expect(outcome.reason).toMatchObject({ code: 409, type: "ORDER_ALREADY_CANCELLED" });
      }
      expect((await store.read(`order-${order.id}`)).map((event) => event.type)).toEqual(["OrderCreated", "OrderCancelled"]);
    });

    it("settles a race between confirm and cancel: one wins, the other is told why", async () => {
      const order = await create();

      const [confirmed, cancelled] = await Promise.allSettled([
        broker.call("orders.confirm", { id: order.id }),
        broker.call("orders.cancel", { id: order.id }),
      ]);

      const events = (await store.read(`order-${order.id}`)).map((event) => event.type);
      expect(events).toHaveLength(2);
      if (events[1] === "OrderConfirmed") {
        expect(confirmed.status).toBe("fulfilled");
        expect(cancelled).toMatchObject({ status: "rejected", reason: { type: "ORDER_ALREADY_CONFIRMED" } });
      } else {
        expect(cancelled.status).toBe("fulfilled");
        expect(confirmed).toMatchObject({ status: "rejected", reason: { type: "ORDER_ALREADY_CANCELLED" } });
      }
    });
  });

  describe("Idempotency-Key", () => {
    it("answers the same order for the same key and body, writing it once", async () => {
      const key = randomUUID();

      const first = await create({ ...placement, idempotencyKey: key });
      const again = await create({ ...placement, items: [...placement.items], idempotencyKey: key });

      expect(again).toEqual(first);
      expect(await store.read(`order-${first.id}`)).toHaveLength(1);
    });

    it("treats 20 concurrent creates with one key as one order", async () => {
      const key = randomUUID();
      const orders = await Promise.all(Array.from({ length: 20 }, () => create({ ...placement, idempotencyKey: key })));
      expect(new Set(orders.map((order) => order.id)).size).toBe(1);
      expect(await store.read(`order-${orders[0]!.id}`)).toHaveLength(1);
    });

    it("refuses the same key with another body with 422 IDEMPOTENCY_KEY_REUSED", async () => {
      const key = randomUUID();
      const first = await create({ ...placement, idempotencyKey: key });

      const error = await rejection(create({ ...placement, currency: "USD", idempotencyKey: key }));

      expect(error).toMatchObject({ code: 422, type: "IDEMPOTENCY_KEY_REUSED", data: { idempotencyKey: key } });
      expect(await store.read(`order-${first.id}`)).toHaveLength(1);
    });
  });

  describe("the gateway's order id (no Idempotency-Key)", () => {
    const createAs = (orderId: string, params: object = placement) => broker.call<OrderView, object>("orders.create", params, { meta: { orderId } });

    it("creates the order under the id the gateway chose, and a retry of the call answers the same order, written once", async () => {
      const orderId = timeOrderedUuid(Date.now());
      const first = await createAs(orderId);
      const retried = await Promise.all(Array.from({ length: 5 }, () => createAs(orderId)));

      expect(first.id).toBe(orderId);
      expect(retried).toEqual(Array.from({ length: 5 }, () => first));
      expect((await store.read(`order-${orderId}`)).map((event) => event.type)).toEqual(["OrderCreated"]);
    });

    it("gives an order created without either a time-ordered id of its own", async () => {
      const before = Date.now();
      const order = await create();
      const millis = parseInt(order.id.replace(/-/g, "").slice(0, 12), 16);
      expect(order.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(millis).toBeGreaterThanOrEqual(before);
      expect(millis).toBeLessThanOrEqual(Date.now());
    });
  });

  it("history lists each event with its revision and time", async () => {
    const order = await create();
    await broker.call("orders.reject", { id: order.id, reason: "PAYMENT_DECLINED" });

    const history = await broker.call<Record<string, unknown>[], object>("orders.history", { id: order.id });

    expect(history).toEqual([
      { type: "OrderCreated", revision: 0, occurredAt: expect.stringMatching(ISO_TIME), data: expect.objectContaining({ orderId: order.id }) },
      {
        type: "OrderRejected",
        revision: 1,
        occurredAt: expect.stringMatching(ISO_TIME),
        data: { orderId: order.id, reason: "PAYMENT_DECLINED", rejectedAt: expect.stringMatching(ISO_TIME) },
      },
    ]);
    expect(await rejection(broker.call("orders.history", { id: randomUUID() }))).toMatchObject({ code: 404 });
  });
});

describe("orders list (projection of the global log)", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "glitchbuster-list-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  async function startOrders(url: string) {
    const broker = new ServiceBroker({ logger: false });
    broker.createService(ordersService({ eventStoreUrl: url }));
    await broker.start();
    return broker;
  }

  type Page = { items: OrderView[]; nextCursor: string | null };

  it("filters by status and customer, pages newest first with cursors, and is rebuilt at start", async () => {
    const url = `sqlite:${join(dir, "events.db")}`;
    const first = await startOrders(url);
    const created: OrderView[] = [];
    for (let index = 0; index < 25; index += 1) {
      created.push(await first.call("orders.create", { ...placement, customerId: `c-${index % 2}` }));
    }
    for (const order of created.slice(0, 5)) await first.call("orders.cancel", { id: order.id });
    await first.stop();

    const second = await startOrders(url);
    const pages: Page[] = [];
    let cursor: string | null | undefined;
    do {
      const page: Page = await second.call("orders.list", { limit: 10, ...(cursor ? { cursor } : {}) });
      pages.push(page);
      cursor = page.nextCursor;
    } while (cursor);
    const byCustomer: Page = await second.call("orders.list", { customerId: "c-1", limit: 100 });
    const cancelled: Page = await second.call("orders.list", { status: "cancelled", limit: "100" });
    const invalidCursor = await rejection(second.call("orders.list", { cursor: "not-ours" }));
    await second.stop();

    expect(pages.map((page) => page.items.length)).toEqual([10, 10, 5]);
    expect(pages.flatMap((page) => page.items.map((order) => order.id))).toEqual(created.map((order) => order.id).reverse());
    expect(byCustomer.items.map((order) => order.id)).toEqual(
      created
        .filter((order) => order.customerId === "c-1")
        .map((order) => order.id)
        .reverse(),
    );
    expect(byCustomer.nextCursor).toBeNull();
    expect(cancelled.items.map((order) => order.id)).toEqual(
      created
        .slice(0, 5)
        .map((order) => order.id)
        .reverse(),
    );
    expect(cancelled.items.every((order) => order.status === "cancelled")).toBe(true);
    expect(invalidCursor).toMatchObject({ code: 422, type: "VALIDATION_ERROR" });
  });
});

describe("orders service with a clock of its own", () => {
  const url = `memory:${randomUUID()}`;
  let broker: ServiceBroker;
  let store: EventStore;
  let time = new Date("2026-01-02T03:04:05.000Z");
  beforeAll(async () => {
    broker = new ServiceBroker({ logger: false });
    broker.createService(ordersService({ eventStoreUrl: url, clock: { now: () => time } }));
    store = acquireEventStore(url);
    await broker.start();
  });
  afterAll(async () => {
    await broker.stop();
    await releaseEventStore(url);
  });

  it("stamps what it decides and appends with the time it is given", async () => {
    const order = await broker.call<{ id: string; createdAt: string }, object>("orders.create", placement);
    time = new Date("2026-01-02T03:04:09.000Z");
    const confirmed = await broker.call<{ confirmedAt: string }, object>("orders.confirm", { id: order.id });

    expect(order.createdAt).toBe("2026-01-02T03:04:05.000Z");
    expect(confirmed.confirmedAt).toBe("2026-01-02T03:04:09.000Z");
    const events = await store.read(`order-${order.id}`);
    expect(events.map((event) => [event.type, event.metadata.occurredAt])).toEqual([
      ["OrderCreated", "2026-01-02T03:04:05.000Z"],
      ["OrderConfirmed", "2026-01-02T03:04:09.000Z"],
    ]);
  });
});

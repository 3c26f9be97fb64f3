import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EmbeddedApp, startEmbeddedApp } from "../support/embedded-app";

const ISO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const JSON_TYPE = { "Content-Type": "application/json" };

const placement = {
  customerId: "c-7",
  currency: "EUR",
  items: [{ productId: "lamp", quantity: 3, unitPrice: 4999 }],
};

describe("REST gateway (embedded mode on a SQLite store, without the saga)", () => {
  let app: EmbeddedApp;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "glitchbuster-api-"));
    // No orchestrator: orders stay pending, so that each route can be seen on its own.
    app = await startEmbeddedApp({
      env: { EVENT_STORE_URL: `sqlite:${join(dir, "events.db")}` },
      services: ["api", "orders", "relay"],
    });
  });
  afterAll(async () => {
    await app.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function call(method: string, path: string, init: { body?: string; headers?: Record<string, string> } = {}) {
    const response = await fetch(`${app.baseUrl}${path}`, { method, body: init.body, headers: init.headers });
    const text = await response.text();
    return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : undefined };
  }
  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    call("POST", path, { body: JSON.stringify(body), headers: { ...JSON_TYPE, ...headers } });

  it("POST /orders creates: 201, Location, the pending order", async () => {
    const response = await post("/orders", placement);

    expect(response.status).toBe(201);
    expect(response.body).toEqual({
      status: "pending",
      id: expect.stringMatching(UUID),
      customerId: "c-7",
      currency: "EUR",
      items: placement.items,
      total: 14997,
      createdAt: expect.stringMatching(ISO_TIME),
    });
    expect(response.headers.get("location")).toBe(`/api/orders/${response.body.id}`);
    expect((await app.store.read(`order-${response.body.id}`)).map((event) => event.type)).toEqual(["OrderCreated"]);
  });

  it("GET /orders/:id answers 200 with the order, 404 for an unknown one", async () => {
    const created = await post("/orders", placement);

    expect(await call("GET", `/orders/${created.body.id}`)).toMatchObject({ status: 200, body: created.body });
    const missing = randomUUID();
    expect(await call("GET", `/orders/${missing}`)).toMatchObject({
      status: 404,
      body: { type: "ORDER_NOT_FOUND", message: `order ${missing} not found`, code: 404, data: {} },
    });
  });

  it("GET /orders lists with filters and a cursor", async () => {
    const customerId = `c-${randomUUID()}`;
    const ids: string[] = [];
    for (let index = 0; index < 3; index += 1) ids.push((await post("/orders", { ...placement, customerId })).body.id);

    const first = await call("GET", `/orders?customerId=${customerId}&limit=2`);
    const second = await call("GET", `/orders?customerId=${customerId}&limit=2&cursor=${first.body.nextCursor}`);

    expect(first.status).toBe(200);
    expect(first.body.items.map((order: { id: string }) => order.id)).toEqual([ids[2], ids[1]]);
    expect(second.body).toEqual({ items: [expect.objectContaining({ id: ids[0], status: "pending" })], nextCursor: null });
    expect(await call("GET", `/orders?status=pending&customerId=${customerId}&limit=1`)).toMatchObject({
      status: 200,
      body: { items: [{ id: ids[2] }], nextCursor: expect.any(String) },
    });
  });

  it("GET /orders/:id/events answers the history", async () => {
    const created = await post("/orders", placement);
    await post(`/orders/${created.body.id}/cancel`, { reason: "too slow" });

    const history = await call("GET", `/orders/${created.body.id}/events`);

    expect(history).toMatchObject({ status: 200 });
    expect(history.body).toEqual([
      {
        type: "OrderCreated",
        revision: 0,
        occurredAt: created.body.createdAt,
        data: { ...placement, orderId: created.body.id, total: 14997, createdAt: created.body.createdAt },
      },
      {
        type: "OrderCancelled",
        revision: 1,
        occurredAt: expect.stringMatching(ISO_TIME),
        data: { orderId: created.body.id, reason: "too slow", cancelledAt: expect.stringMatching(ISO_TIME) },
      },
    ]);
  });

  it("POST /orders/:id/cancel: 200 once, then 409; 404 for an unknown order", async () => {
    const created = await post("/orders", placement);

    const cancelled = await call("POST", `/orders/${created.body.id}/cancel`);
    const again = await call("POST", `/orders/${created.body.id}/cancel`);
    const unknown = await call("POST", `/orders/${randomUUID()}/cancel`);

    expect(cancelled).toMatchObject({ status: 200, body: { id: created.body.id, status: "cancelled", reason: null } });
    expect(again).toMatchObject({
      status: 409,
      body: { type: "ORDER_ALREADY_CANCELLED", message: `order ${created.body.id} is already cancelled`, code: 409 },
    });
    expect(unknown).toMatchObject({ status: 404, body: { type: "ORDER_NOT_FOUND" } });
  });

  it("Idempotency-Key: same key and body → the same order; another body → 422", async () => {
    const key = randomUUID();

    const first = await post("/orders", placement, { "Idempotency-Key": key });
    const again = await post("/orders", placement, { "Idempotency-Key": key });
    const other = await post("/orders", { ...placement, currency: "GBP" }, { "Idempotency-Key": key });

    expect(first.status).toBe(201);
    expect(again).toMatchObject({ status: 201, body: first.body });
    expect(again.headers.get("location")).toBe(`/api/orders/${first.body.id}`);
    expect(other).toEqual({
      status: 422,
      headers: expect.anything(),
      body: {
        type: "IDEMPOTENCY_KEY_REUSED",
        message: "this Idempotency-Key was already used with another request body",
        code: 422,
        data: { idempotencyKey: key },
      },
    });
    expect(await app.store.read(`order-${first.body.id}`)).toHaveLength(1);
  });

  // The table of malformed and hostile requests is test/e2e/hostile-input.e2e.spec.ts.
  describe("bad input", () => {
    it("names the failing fields of a validation error", async () => {
      const response = await post("/orders", { customerId: "", currency: "EURO", items: [] });
      expect(response.status).toBe(422);
      expect(response.body.data.map((failure: { field: string }) => failure.field).sort()).toEqual(["currency", "customerId", "items"]);
    });
  });

  describe("GET /health", () => {
    it("answers 200 with each check up", async () => {
      expect(await call("GET", "/health")).toMatchObject({
        status: 200,
        body: {
          status: "ok",
          checks: {
            orders: { status: "up" },
            eventStore: { status: "up" },
            relay: { status: "up", position: expect.any(String), published: expect.any(Number) },
            bus: { status: "up" },
          },
        },
      });
    });

    it("answers 503 naming the event store when it fails", async () => {
      await app.store.close();

      expect(await call("GET", "/health")).toMatchObject({
        status: 503,
        body: {
          status: "unavailable",
          checks: expect.objectContaining({ orders: { status: "up" }, eventStore: { status: "down", error: expect.any(String) } }),
        },
      });
    });
  });
});

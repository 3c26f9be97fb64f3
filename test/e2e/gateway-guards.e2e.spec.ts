import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { ClientRequest, IncomingMessage, request } from "node:http";
import { EmbeddedApp, globalLog, startEmbeddedApp } from "../support/embedded-app";

/**
 * What the gateway answers itself, before any action: OPTIONS and CORS, and the live feed,
 * which must neither reach nor hold the request path's bulkhead.
 */

const TOKEN = "guards-test-token";
const ALLOWED_ORIGIN = "https://shop.example";
const order = { customerId: "c-guard", currency: "EUR", items: [{ productId: "p", quantity: 1, unitPrice: 100 }] };
const someId = randomUUID();

/** Every route that changes state, with a body that its action would accept. */
const MUTATING_ROUTES = [
  { method: "POST", path: "/orders", body: order },
  { method: "POST", path: `/orders/${someId}/cancel`, body: { reason: "preflight" } },
  { method: "PUT", path: "/chaos/antifraud", body: { failureRate: 1, latencyMs: 5000 } },
  { method: "POST", path: "/dlq/replay", body: {} },
  { method: "POST", path: `/dlq/${someId}/replay`, body: {} },
  { method: "DELETE", path: `/dlq/${someId}`, body: { reason: "preflight" } },
] as const;

async function chaosOf(app: EmbeddedApp): Promise<unknown> {
  return (await fetch(`${app.baseUrl}/chaos`)).json();
}

describe("OPTIONS and CORS (CORS_ORIGINS unset: CORS off)", () => {
  let app: EmbeddedApp;
  beforeAll(async () => {
    app = await startEmbeddedApp({ env: { ADMIN_TOKEN: TOKEN, BUS_NAMESPACE: `test-${randomUUID()}` } });
  });
  afterAll(() => app.stop());

  it.each(MUTATING_ROUTES)(
    "a preflight for $method $path, with the action's body and the admin token, is a 403 that runs nothing",
    async ({ method, path, body }) => {
      const before = { log: (await globalLog(app.store)).length, chaos: await chaosOf(app) };

      const response = await fetch(`${app.baseUrl}${path}`, {
        method: "OPTIONS",
        headers: {
          Origin: "https://evil.example",
          "Access-Control-Request-Method": method,
          "Content-Type": "application/json",
          Authorization: `Bearer ${TOKEN}`,
        },
        body: JSON.stringify(body),
      });

      expect(response.status).toBe(403);
      expect(response.headers.get("access-control-allow-origin")).toBeNull();
      expect(await response.json()).toEqual({
        type: "CORS_NOT_ALLOWED",
        message: "this cross-origin request is not allowed (CORS_ORIGINS)",
        code: 403,
        data: { origin: "https://evil.example", method },
      });
      expect((await globalLog(app.store)).length).toBe(before.log);
      expect(await chaosOf(app)).toEqual(before.chaos);
    },
  );

  it.each(MUTATING_ROUTES)("an OPTIONS of $path that is not a preflight, with a body, names the methods and runs nothing", async ({ method, path, body }) => {
    const before = { log: (await globalLog(app.store)).length, chaos: await chaosOf(app) };

    const response = await fetch(`${app.baseUrl}${path}`, {
      method: "OPTIONS",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify(body),
    });

    expect(response.status).toBe(204);
    expect(response.headers.get("allow")).toContain(method);
    expect((await globalLog(app.store)).length).toBe(before.log);
    expect(await chaosOf(app)).toEqual(before.chaos);
  });

  it("an OPTIONS of a path no route answers is a 404", async () => {
    const response = await fetch(`${app.baseUrl}/nowhere`, { method: "OPTIONS", headers: { Origin: ALLOWED_ORIGIN, "Access-Control-Request-Method": "POST" } });
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ type: "NOT_FOUND", code: 404 });
  });

  it("an actual request from any origin gets no CORS header", async () => {
    const response = await fetch(`${app.baseUrl}/health`, { headers: { Origin: ALLOWED_ORIGIN } });
    expect(response.status).toBe(200);
    expect(response.headers.get("access-control-allow-origin")).toBeNull();
  });
});

describe("OPTIONS and CORS (CORS_ORIGINS lists one origin)", () => {
  let app: EmbeddedApp;
  beforeAll(async () => {
    app = await startEmbeddedApp({ env: { ADMIN_TOKEN: TOKEN, CORS_ORIGINS: ALLOWED_ORIGIN, BUS_NAMESPACE: `test-${randomUUID()}` } });
  });
  afterAll(() => app.stop());

  it("answers the listed origin's preflight with CORS headers, and still runs nothing", async () => {
    const before = (await globalLog(app.store)).length;

    const response = await fetch(`${app.baseUrl}/orders`, {
      method: "OPTIONS",
      headers: { Origin: ALLOWED_ORIGIN, "Access-Control-Request-Method": "POST", "Content-Type": "application/json" },
      body: JSON.stringify(order),
    });

    expect(response.status).toBe(204);
    expect(Object.fromEntries([...response.headers].filter(([name]) => name.startsWith("access-control-") || name === "vary"))).toEqual({
      "access-control-allow-origin": ALLOWED_ORIGIN,
      "access-control-allow-methods": "POST, GET",
      "access-control-allow-headers": "Content-Type, Authorization, Idempotency-Key",
      "access-control-max-age": "600",
      vary: "Origin",
    });
    expect((await globalLog(app.store)).length).toBe(before);
  });

  it("refuses the listed origin's preflight for a method the path does not take", async () => {
    const response = await fetch(`${app.baseUrl}/orders`, {
      method: "OPTIONS",
      headers: { Origin: ALLOWED_ORIGIN, "Access-Control-Request-Method": "DELETE" },
    });
    expect(response.status).toBe(403);
  });

  it("refuses a preflight from an origin that is not listed, however close", async () => {
    for (const origin of ["https://shop.example.evil", "http://shop.example", "https://evil.example", "null"]) {
      const response = await fetch(`${app.baseUrl}/orders`, { method: "OPTIONS", headers: { Origin: origin, "Access-Control-Request-Method": "POST" } });
      expect(response.status).toBe(403);
      expect(response.headers.get("access-control-allow-origin")).toBeNull();
    }
  });

  it("lets the listed origin read an answer (and its Location), and no other", async () => {
    const created = await fetch(`${app.baseUrl}/orders`, {
      method: "POST",
      headers: { Origin: ALLOWED_ORIGIN, "Content-Type": "application/json" },
      body: JSON.stringify(order),
    });
    expect(created.status).toBe(201);
    expect(created.headers.get("access-control-allow-origin")).toBe(ALLOWED_ORIGIN);
    expect(created.headers.get("access-control-expose-headers")).toContain("Location");

    const other = await fetch(`${app.baseUrl}/health`, { headers: { Origin: "https://evil.example" } });
    expect(other.headers.get("access-control-allow-origin")).toBeNull();
  });
});

/** An open feed: the answer, and the first frame once one came. */
interface OpenFeed {
  request: ClientRequest;
  response: IncomingMessage;
}

async function openFeed(baseUrl: string): Promise<OpenFeed> {
  const req = request(`${baseUrl}/live`);
  req.end();
  const [response] = (await once(req, "response")) as [IncomingMessage];
  return { request: req, response };
}

async function firstFrame(feed: OpenFeed): Promise<string> {
  const [chunk] = (await once(feed.response, "data")) as [Buffer];
  return chunk.toString("utf8");
}

/** The client goes away, as a closed tab does (its stream then ends with "aborted"). */
function close(feed: OpenFeed): Promise<void> {
  return new Promise((resolve) => {
    feed.response.on("error", () => undefined);
    feed.response.once("close", resolve);
    feed.request.destroy();
  });
}

describe("the live feed (LIVE_MAX_CLIENTS=5, a bulkhead of 2 calls per action)", () => {
  const MAX = 5;
  let app: EmbeddedApp;
  beforeAll(async () => {
    app = await startEmbeddedApp({
      env: { LIVE_MAX_CLIENTS: String(MAX), BULKHEAD_CONCURRENCY: "2", BULKHEAD_MAX_QUEUE: "2", BUS_NAMESPACE: `test-${randomUUID()}` },
    });
  });
  afterAll(() => app.stop());

  it("holds no request capacity: with every feed open and 200 more refused, orders and health still answer; closed feeds free their places", async () => {
    const feeds = await Promise.all(Array.from({ length: MAX }, () => openFeed(app.baseUrl)));
    for (const feed of feeds) {
      expect(feed.response.statusCode).toBe(200);
      expect(feed.response.headers["content-type"]).toBe("text/event-stream");
      expect(await firstFrame(feed)).toMatch(/^data: \{"at":/);
    }

    const refused = await Promise.all(Array.from({ length: 200 }, () => fetch(`${app.baseUrl}/live`)));
    for (const response of refused) {
      expect(response.status).toBe(503);
      expect(response.headers.get("retry-after")).toBe("5");
      expect(await response.json()).toEqual({
        type: "LIVE_FEED_FULL",
        message: `${MAX} live feeds are open already (LIVE_MAX_CLIENTS); try again later`,
        code: 503,
        data: { maxClients: MAX },
      });
    }

    // More feeds than the bulkhead has places: were they requests, these would wait for ever.
    const created = await Promise.all(
      Array.from({ length: 6 }, () =>
        fetch(`${app.baseUrl}/orders`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(order) }),
      ),
    );
    expect(created.map((response) => response.status)).toEqual([201, 201, 201, 201, 201, 201]);
    expect((await fetch(`${app.baseUrl}/health`)).status).toBe(200);

    await Promise.all(feeds.map(close));
    const again = await openFeed(app.baseUrl);
    expect(again.response.statusCode).toBe(200);
    await close(again);
  });
});

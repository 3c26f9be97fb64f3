import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { connect } from "node:net";
import { EmbeddedApp, globalLog, startEmbeddedApp } from "../support/embedded-app";

/**
 * Malformed and hostile requests against the whole embedded app: each gets a clear 4xx in
 * the one error shape, and none appends an event.
 */

const JSON_TYPE = { "Content-Type": "application/json" };
const TOKEN = "hostile-test-token";
const ADMIN = { ...JSON_TYPE, Authorization: `Bearer ${TOKEN}` };
const order = { customerId: "c-1", currency: "EUR", items: [{ productId: "p", quantity: 1, unitPrice: 100 }] };
const line = (fields: Record<string, unknown>) => JSON.stringify({ ...order, items: [{ ...order.items[0], ...fields }] });
const withOrder = (fields: Record<string, unknown>) => JSON.stringify({ ...order, ...fields });
const someId = randomUUID();

interface HostileCase {
  name: string;
  method: string;
  path: string;
  body?: string | Uint8Array;
  headers?: Record<string, string>;
  status: number;
  type: string;
}

/** An order whose customerId holds these raw bytes, which are not UTF-8. */
const notUtf8 = (bytes: number[]) => Buffer.concat([Buffer.from('{"customerId":"'), Buffer.from(bytes), Buffer.from(JSON.stringify(order).slice(15))]);

const cases: HostileCase[] = [
  // Not JSON, or JSON that is not an order.
  { name: "truncated JSON", method: "POST", path: "/orders", body: '{"customerId":', headers: JSON_TYPE, status: 400, type: "MALFORMED_JSON" },
  { name: "trailing garbage", method: "POST", path: "/orders", body: `${JSON.stringify(order)}}}`, headers: JSON_TYPE, status: 400, type: "MALFORMED_JSON" },
  { name: "a JSON array", method: "POST", path: "/orders", body: "[1,2]", headers: JSON_TYPE, status: 400, type: "MALFORMED_JSON" },
  { name: "a JSON string", method: "POST", path: "/orders", body: '"order"', headers: JSON_TYPE, status: 400, type: "MALFORMED_JSON" },
  { name: "JSON null", method: "POST", path: "/orders", body: "null", headers: JSON_TYPE, status: 400, type: "MALFORMED_JSON" },
  { name: "an empty object", method: "POST", path: "/orders", body: "{}", headers: JSON_TYPE, status: 422, type: "VALIDATION_ERROR" },
  // Prototype pollution, at the top and deep down.
  {
    name: "__proto__ at the top",
    method: "POST",
    path: "/orders",
    body: '{"__proto__":{"isAdmin":true}}',
    headers: JSON_TYPE,
    status: 400,
    type: "MALFORMED_JSON",
  },
  {
    name: "__proto__ inside a line",
    method: "POST",
    path: "/orders",
    body: '{"customerId":"c","currency":"EUR","items":[{"__proto__":{"quantity":1}}]}',
    headers: JSON_TYPE,
    status: 400,
    type: "MALFORMED_JSON",
  },
  {
    name: "constructor.prototype",
    method: "POST",
    path: "/orders",
    body: '{"constructor":{"prototype":{"polluted":1}}}',
    headers: JSON_TYPE,
    status: 400,
    type: "MALFORMED_JSON",
  },
  { name: "a prototype key", method: "POST", path: "/orders", body: '{"prototype":{}}', headers: JSON_TYPE, status: 400, type: "MALFORMED_JSON" },
  // Wrong types.
  {
    name: "customerId as a number",
    method: "POST",
    path: "/orders",
    body: withOrder({ customerId: 42 }),
    headers: JSON_TYPE,
    status: 422,
    type: "VALIDATION_ERROR",
  },
  { name: "currency as null", method: "POST", path: "/orders", body: withOrder({ currency: null }), headers: JSON_TYPE, status: 422, type: "VALIDATION_ERROR" },
  {
    name: "items as an object",
    method: "POST",
    path: "/orders",
    body: withOrder({ items: { 0: order.items[0] } }),
    headers: JSON_TYPE,
    status: 422,
    type: "VALIDATION_ERROR",
  },
  {
    name: "a line as a string",
    method: "POST",
    path: "/orders",
    body: withOrder({ items: ["p:1:100"] }),
    headers: JSON_TYPE,
    status: 422,
    type: "VALIDATION_ERROR",
  },
  { name: "quantity as a string", method: "POST", path: "/orders", body: line({ quantity: "1" }), headers: JSON_TYPE, status: 422, type: "VALIDATION_ERROR" },
  {
    name: "unitPrice as a boolean",
    method: "POST",
    path: "/orders",
    body: line({ unitPrice: true }),
    headers: JSON_TYPE,
    status: 422,
    type: "VALIDATION_ERROR",
  },
  // Numbers out of range.
  { name: "a negative quantity", method: "POST", path: "/orders", body: line({ quantity: -3 }), headers: JSON_TYPE, status: 422, type: "VALIDATION_ERROR" },
  { name: "a zero quantity", method: "POST", path: "/orders", body: line({ quantity: 0 }), headers: JSON_TYPE, status: 422, type: "VALIDATION_ERROR" },
  { name: "a fractional quantity", method: "POST", path: "/orders", body: line({ quantity: 1.5 }), headers: JSON_TYPE, status: 422, type: "VALIDATION_ERROR" },
  {
    name: "a quantity of 1e21",
    method: "POST",
    path: "/orders",
    body: '{"customerId":"c","currency":"EUR","items":[{"productId":"p","quantity":1e21,"unitPrice":1}]}',
    headers: JSON_TYPE,
    status: 422,
    type: "VALIDATION_ERROR",
  },
  { name: "a negative price", method: "POST", path: "/orders", body: line({ unitPrice: -1 }), headers: JSON_TYPE, status: 422, type: "VALIDATION_ERROR" },
  {
    name: "a price beyond exact integers",
    method: "POST",
    path: "/orders",
    body: '{"customerId":"c","currency":"EUR","items":[{"productId":"p","quantity":1,"unitPrice":9007199254740993}]}',
    headers: JSON_TYPE,
    status: 422,
    type: "VALIDATION_ERROR",
  },
  {
    name: "a price of 1e308",
    method: "POST",
    path: "/orders",
    body: '{"customerId":"c","currency":"EUR","items":[{"productId":"p","quantity":1,"unitPrice":1e308}]}',
    headers: JSON_TYPE,
    status: 422,
    type: "VALIDATION_ERROR",
  },
  {
    name: "a total beyond exact integers",
    method: "POST",
    path: "/orders",
    body: line({ quantity: 1000, unitPrice: Number.MAX_SAFE_INTEGER }),
    headers: JSON_TYPE,
    status: 422,
    type: "ORDER_TOTAL_TOO_LARGE",
  },
  {
    name: "101 lines",
    method: "POST",
    path: "/orders",
    body: withOrder({ items: Array.from({ length: 101 }, () => order.items[0]) }),
    headers: JSON_TYPE,
    status: 422,
    type: "VALIDATION_ERROR",
  },
  // Strings.
  {
    name: "a currency in Unicode look-alikes",
    method: "POST",
    path: "/orders",
    body: withOrder({ currency: "ＥＵＲ" }),
    headers: JSON_TYPE,
    status: 422,
    type: "VALIDATION_ERROR",
  },
  {
    name: "a currency with a euro sign",
    method: "POST",
    path: "/orders",
    body: withOrder({ currency: "€UR" }),
    headers: JSON_TYPE,
    status: 422,
    type: "VALIDATION_ERROR",
  },
  {
    name: "a customerId of 65 emoji",
    method: "POST",
    path: "/orders",
    body: withOrder({ customerId: "😈".repeat(65) }),
    headers: JSON_TYPE,
    status: 422,
    type: "VALIDATION_ERROR",
  },
  { name: "an empty productId", method: "POST", path: "/orders", body: line({ productId: "" }), headers: JSON_TYPE, status: 422, type: "VALIDATION_ERROR" },
  {
    name: "an unknown field (status)",
    method: "POST",
    path: "/orders",
    body: withOrder({ status: "confirmed" }),
    headers: JSON_TYPE,
    status: 422,
    type: "VALIDATION_ERROR",
  },
  {
    name: "an Idempotency-Key of 300 characters",
    method: "POST",
    path: "/orders",
    body: JSON.stringify(order),
    headers: { ...JSON_TYPE, "Idempotency-Key": "k".repeat(300) },
    status: 422,
    type: "VALIDATION_ERROR",
  },
  {
    name: "a cancel reason of 501 characters",
    method: "POST",
    path: `/orders/${someId}/cancel`,
    body: JSON.stringify({ reason: "r".repeat(501) }),
    headers: JSON_TYPE,
    status: 422,
    type: "VALIDATION_ERROR",
  },
  {
    name: "a cancel reason as a number",
    method: "POST",
    path: `/orders/${someId}/cancel`,
    body: JSON.stringify({ reason: 7 }),
    headers: JSON_TYPE,
    status: 422,
    type: "VALIDATION_ERROR",
  },
  // Identifiers are text a person could type: no control characters, no lone surrogates, UTF-8.
  {
    name: "a customerId with NUL",
    method: "POST",
    path: "/orders",
    body: withOrder({ customerId: "c\u0000" }),
    headers: JSON_TYPE,
    status: 422,
    type: "VALIDATION_ERROR",
  },
  {
    name: "a customerId with ESC (a terminal escape)",
    method: "POST",
    path: "/orders",
    body: withOrder({ customerId: "\u001b[31mred" }),
    headers: JSON_TYPE,
    status: 422,
    type: "VALIDATION_ERROR",
  },
  {
    name: "a customerId with DEL",
    method: "POST",
    path: "/orders",
    body: withOrder({ customerId: "c\u007f" }),
    headers: JSON_TYPE,
    status: 422,
    type: "VALIDATION_ERROR",
  },
  {
    name: "a customerId with a C1 control (NEL)",
    method: "POST",
    path: "/orders",
    body: withOrder({ customerId: "c\u0085" }),
    headers: JSON_TYPE,
    status: 422,
    type: "VALIDATION_ERROR",
  },
  {
    name: "a customerId with a lone high surrogate",
    method: "POST",
    path: "/orders",
    body: '{"customerId":"c\\ud800","currency":"EUR","items":[{"productId":"p","quantity":1,"unitPrice":1}]}',
    headers: JSON_TYPE,
    status: 422,
    type: "VALIDATION_ERROR",
  },
  {
    name: "a customerId with a lone low surrogate",
    method: "POST",
    path: "/orders",
    body: '{"customerId":"\\udc00c","currency":"EUR","items":[{"productId":"p","quantity":1,"unitPrice":1}]}',
    headers: JSON_TYPE,
    status: 422,
    type: "VALIDATION_ERROR",
  },
  {
    name: "a productId with a newline",
    method: "POST",
    path: "/orders",
    body: line({ productId: "p\n2" }),
    headers: JSON_TYPE,
    status: 422,
    type: "VALIDATION_ERROR",
  },
  {
    name: "a productId with ESC",
    method: "POST",
    path: "/orders",
    body: line({ productId: "\u001b]0;owned\u0007" }),
    headers: JSON_TYPE,
    status: 422,
    type: "VALIDATION_ERROR",
  },
  {
    name: "a body that is not UTF-8 (0xFF)",
    method: "POST",
    path: "/orders",
    body: notUtf8([0x63, 0xff]),
    headers: JSON_TYPE,
    status: 400,
    type: "INVALID_UTF8",
  },
  {
    name: "a body with a truncated UTF-8 sequence",
    method: "POST",
    path: "/orders",
    body: notUtf8([0xc3, 0x28]),
    headers: JSON_TYPE,
    status: 400,
    type: "INVALID_UTF8",
  },
  {
    name: "a body with an encoded surrogate (CESU)",
    method: "POST",
    path: "/orders",
    body: notUtf8([0xed, 0xa0, 0x80]),
    headers: JSON_TYPE,
    status: 400,
    type: "INVALID_UTF8",
  },
  {
    name: "an Idempotency-Key with a C1 control",
    method: "POST",
    path: "/orders",
    body: JSON.stringify(order),
    headers: { ...JSON_TYPE, "Idempotency-Key": "k\u0090k" },
    status: 422,
    type: "VALIDATION_ERROR",
  },
  {
    name: "a cancel reason with NUL",
    method: "POST",
    path: `/orders/${someId}/cancel`,
    body: JSON.stringify({ reason: "why\u0000" }),
    headers: JSON_TYPE,
    status: 422,
    type: "VALIDATION_ERROR",
  },
  {
    name: "a purge reason with ESC",
    method: "DELETE",
    path: `/dlq/${someId}`,
    body: JSON.stringify({ reason: "\u001b[2Jgone" }),
    headers: ADMIN,
    status: 422,
    type: "VALIDATION_ERROR",
  },
  {
    name: "a purge reason with a lone surrogate",
    method: "DELETE",
    path: `/dlq/${someId}`,
    body: '{"reason":"\\ud83d"}',
    headers: ADMIN,
    status: 422,
    type: "VALIDATION_ERROR",
  },
  {
    name: "a chaos service name with ESC",
    method: "PUT",
    path: "/chaos/anti%1Bfraud",
    body: '{"failureRate":1}',
    headers: ADMIN,
    status: 422,
    type: "VALIDATION_ERROR",
  },
  {
    name: "a chaos service name with NUL",
    method: "PUT",
    path: "/chaos/payments%00",
    body: '{"failureRate":1}',
    headers: ADMIN,
    status: 422,
    type: "VALIDATION_ERROR",
  },
  { name: "an order id with ESC", method: "GET", path: "/orders/%1B%5B31m", status: 422, type: "VALIDATION_ERROR" },
  // A command takes its fields from its body: the query string does not merge into it.
  {
    name: "POST /orders with a query field",
    method: "POST",
    path: "/orders?customerId=evil",
    body: JSON.stringify(order),
    headers: JSON_TYPE,
    status: 400,
    type: "QUERY_NOT_ALLOWED",
  },
  { name: "POST /orders with only a query", method: "POST", path: `/orders?customerId=c&currency=EUR`, status: 400, type: "QUERY_NOT_ALLOWED" },
  {
    name: "a cancel whose reason is in the query",
    method: "POST",
    path: `/orders/${someId}/cancel?reason=x`,
    body: "{}",
    headers: JSON_TYPE,
    status: 400,
    type: "QUERY_NOT_ALLOWED",
  },
  {
    name: "chaos set from the query",
    method: "PUT",
    path: "/chaos/antifraud?failureRate=1",
    body: "{}",
    headers: ADMIN,
    status: 400,
    type: "QUERY_NOT_ALLOWED",
  },
  {
    name: "replay all filtered from the query",
    method: "POST",
    path: "/dlq/replay?originQueue=orchestrator",
    body: "{}",
    headers: ADMIN,
    status: 400,
    type: "QUERY_NOT_ALLOWED",
  },
  // Size and media type.
  {
    name: "a body over 64 KiB",
    method: "POST",
    path: "/orders",
    body: withOrder({ customerId: "x".repeat(70 * 1024) }),
    headers: JSON_TYPE,
    status: 413,
    type: "PAYLOAD_TOO_LARGE",
  },
  {
    name: "text/plain",
    method: "POST",
    path: "/orders",
    body: JSON.stringify(order),
    headers: { "Content-Type": "text/plain" },
    status: 415,
    type: "UNSUPPORTED_MEDIA_TYPE",
  },
  {
    name: "application/xml",
    method: "POST",
    path: "/orders",
    body: "<order/>",
    headers: { "Content-Type": "application/xml" },
    status: 415,
    type: "UNSUPPORTED_MEDIA_TYPE",
  },
  {
    name: "a form",
    method: "POST",
    path: "/orders",
    body: "customerId=c",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    status: 415,
    type: "UNSUPPORTED_MEDIA_TYPE",
  },
  {
    name: "JSON in UTF-16",
    method: "POST",
    path: "/orders",
    body: JSON.stringify(order),
    headers: { "Content-Type": "application/json; charset=utf-16" },
    status: 415,
    type: "UNSUPPORTED_MEDIA_TYPE",
  },
  // Queries.
  { name: "limit=0", method: "GET", path: "/orders?limit=0", status: 422, type: "VALIDATION_ERROR" },
  { name: "limit=1e3", method: "GET", path: "/orders?limit=1e3", status: 422, type: "VALIDATION_ERROR" },
  { name: "limit=abc", method: "GET", path: "/orders?limit=abc", status: 422, type: "VALIDATION_ERROR" },
  { name: "status as an array", method: "GET", path: "/orders?status[]=pending", status: 422, type: "VALIDATION_ERROR" },
  { name: "an unknown status", method: "GET", path: "/orders?status=shipped", status: 422, type: "VALIDATION_ERROR" },
  { name: "a forged cursor", method: "GET", path: "/orders?cursor=cDotMQ", status: 422, type: "VALIDATION_ERROR" },
  { name: "a DLQ id that is not one", method: "GET", path: "/dlq/../../etc/passwd", status: 404, type: "NOT_FOUND" },
  // Routes and methods.
  { name: "an unknown route", method: "GET", path: "/admin", status: 404, type: "NOT_FOUND" },
  { name: "PUT /orders", method: "PUT", path: "/orders", body: JSON.stringify(order), headers: JSON_TYPE, status: 404, type: "NOT_FOUND" },
  { name: "DELETE /orders/:id", method: "DELETE", path: `/orders/${someId}`, status: 404, type: "NOT_FOUND" },
  { name: "PATCH /orders/:id", method: "PATCH", path: `/orders/${someId}`, body: '{"status":"confirmed"}', headers: JSON_TYPE, status: 404, type: "NOT_FOUND" },
  { name: "the saga's confirm step", method: "POST", path: `/orders/${someId}/confirm`, status: 404, type: "NOT_FOUND" },
  {
    name: "the saga's reject step",
    method: "POST",
    path: `/orders/${someId}/reject`,
    body: '{"reason":"x"}',
    headers: JSON_TYPE,
    status: 404,
    type: "NOT_FOUND",
  },
  // Admin routes.
  { name: "chaos without a token", method: "PUT", path: "/chaos/antifraud", body: '{"failureRate":1}', headers: JSON_TYPE, status: 401, type: "UNAUTHORIZED" },
  {
    name: "chaos with a wrong token",
    method: "PUT",
    path: "/chaos/antifraud",
    body: '{"failureRate":1}',
    headers: { ...JSON_TYPE, Authorization: "Bearer guess" },
    status: 403,
    type: "FORBIDDEN",
  },
  {
    name: "chaos with the token as Basic",
    method: "PUT",
    path: "/chaos/antifraud",
    body: '{"failureRate":1}',
    headers: { ...JSON_TYPE, Authorization: `Basic ${TOKEN}` },
    status: 403,
    type: "FORBIDDEN",
  },
  { name: "purge without a token", method: "DELETE", path: `/dlq/${someId}`, body: '{"reason":"x"}', headers: JSON_TYPE, status: 401, type: "UNAUTHORIZED" },
  { name: "replay all without a token", method: "POST", path: "/dlq/replay", body: "{}", headers: JSON_TYPE, status: 401, type: "UNAUTHORIZED" },
  {
    name: "chaos on a service that has none",
    method: "PUT",
    path: "/chaos/orders",
    body: '{"failureRate":1}',
    headers: ADMIN,
    status: 422,
    type: "VALIDATION_ERROR",
  },
  { name: "a failure rate of 1.5", method: "PUT", path: "/chaos/payments", body: '{"failureRate":1.5}', headers: ADMIN, status: 422, type: "VALIDATION_ERROR" },
  { name: "a purge without a reason", method: "DELETE", path: `/dlq/${someId}`, body: "{}", headers: ADMIN, status: 422, type: "VALIDATION_ERROR" },
  { name: "a replay of a malformed id", method: "POST", path: "/dlq/not-an-id/replay", headers: ADMIN, status: 422, type: "VALIDATION_ERROR" },
];

describe("hostile input (embedded app)", () => {
  let app: EmbeddedApp;

  beforeAll(async () => {
    app = await startEmbeddedApp({ env: { ADMIN_TOKEN: TOKEN, BUS_NAMESPACE: `test-${randomUUID()}` } });
  });
  afterAll(() => app.stop());

  it(`has at least 40 cases (${cases.length})`, () => {
    expect(cases.length).toBeGreaterThanOrEqual(40);
  });

  it.each(cases)("$name: $method $path → $status $type, nothing appended", async ({ method, path, body, headers, status, type }) => {
    const before = (await globalLog(app.store)).length;

    const response = await fetch(`${app.baseUrl}${path}`, { method, body, headers });
    const answer = (await response.json()) as Record<string, unknown>;

    expect(response.status).toBe(status);
    expect(response.headers.get("content-type")).toBe("application/json; charset=utf-8");
    expect(Object.keys(answer)).toEqual(["type", "message", "code", "data"]);
    expect(answer).toMatchObject({ type, code: status, message: expect.any(String) });
    expect((await globalLog(app.store)).length).toBe(before);
  });

  // fetch refuses to send it: written on the socket as a hostile client would.
  it("an Idempotency-Key with ESC is refused (by Node's parser, 400) and appends nothing", async () => {
    const before = (await globalLog(app.store)).length;
    const body = JSON.stringify(order);
    const { port } = new URL(app.baseUrl);
    const socket = connect(Number(port), "127.0.0.1");
    socket.end(
      `POST /api/orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nIdempotency-Key: k\x1bk\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    );
    const [answer] = (await once(socket.setEncoding("latin1"), "data")) as [string];
    socket.destroy();

    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    expect((await globalLog(app.store)).length).toBe(before);
  });

  it("leaves Object.prototype alone", () => {
    expect(({} as Record<string, unknown>).isAdmin).toBeUndefined();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

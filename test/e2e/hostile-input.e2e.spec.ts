import { randomUUID } from "node:crypto";
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
  body?: string;
  headers?: Record<string, string>;
  status: number;
  type: string;
}

const cases: HostileCase[] = [
  // Not JSON, or JSON that is not an order.
  { name: "truncated JSON", method: "POST", path: "/orders", body: '{"customerId":', headers: JSON_TYPE, status: 400, type: "MALFORMED_JSON" },
  { name: "trailing garbage", method: "POST", path: "/orders", body: `${JSON.stringify(order)}}}`, headers: JSON_TYPE, status: 400, type: "MALFORMED_JSON" },
  { name: "a JSON array", method: "POST", path: "/orders", body: "[1,2]", headers: JSON_TYPE, status: 400, type: "MALFORMED_JSON" },
  { name: "a JSON string", method: "POST", path: "/orders", body: '"order"', headers: JSON_TYPE, status: 400, type: "MALFORMED_JSON" },
  { name: "JSON null", method: "POST", path: "/orders", body: "null", headers: JSON_TYPE, status: 400, type: "MALFORMED_JSON" },
  { name: "an empty object", method: "POST", path: "/orders", body: "{}", headers: JSON_TYPE, status: 422, type: "VALIDATION_ERROR" },
  // Prototype pollution, at the top and deep down.
  { name: "__proto__ at the top", method: "POST", path: "/orders", body: '{"__proto__":{"isAdmin":true}}', headers: JSON_TYPE, status: 400, type: "MALFORMED_JSON" },
  { name: "__proto__ inside a line", method: "POST", path: "/orders", body: '{"customerId":"c","currency":"EUR","items":[{"__proto__":{"quantity":1}}]}', headers: JSON_TYPE, status: 400, type: "MALFORMED_JSON" },
  { name: "constructor.prototype", method: "POST", path: "/orders", body: '{"constructor":{"prototype":{"polluted":1}}}', headers: JSON_TYPE, status: 400, type: "MALFORMED_JSON" },
  { name: "a prototype key", method: "POST", path: "/orders", body: '{"prototype":{}}', headers: JSON_TYPE, status: 400, type: "MALFORMED_JSON" },
  // Wrong types.
  { name: "customerId as a number", method: "POST", path: "/orders", body: withOrder({ customerId: 42 }), headers: JSON_TYPE, status: 422, type: "VALIDATION_ERROR" },
  { name: "currency as null", method: "POST", path: "/orders", body: withOrder({ currency: null }), headers: JSON_TYPE, status: 422, type: "VALIDATION_ERROR" },
  { name: "items as an object", method: "POST", path: "/orders", body: withOrder({ items: { 0: order.items[0] } }), headers: JSON_TYPE, status: 422, type: "VALIDATION_ERROR" },
  { name: "a line as a string", method: "POST", path: "/orders", body: withOrder({ items: ["p:1:100"] }), headers: JSON_TYPE, status: 422, type: "VALIDATION_ERROR" },
  { name: "quantity as a string", method: "POST", path: "/orders", body: line({ quantity: "1" }), headers: JSON_TYPE, status: 422, type: "VALIDATION_ERROR" },
  { name: "unitPrice as a boolean", method: "POST", path: "/orders", body: line({ unitPrice: true }), headers: JSON_TYPE, status: 422, type: "VALIDATION_ERROR" },
  // Numbers out of range.
  { name: "a negative quantity", method: "POST", path: "/orders", body: line({ quantity: -3 }), headers: JSON_TYPE, status: 422, type: "VALIDATION_ERROR" },
  { name: "a zero quantity", method: "POST", path: "/orders", body: line({ quantity: 0 }), headers: JSON_TYPE, status: 422, type: "VALIDATION_ERROR" },
  { name: "a fractional quantity", method: "POST", path: "/orders", body: line({ quantity: 1.5 }), headers: JSON_TYPE, status: 422, type: "VALIDATION_ERROR" },
  { name: "a quantity of 1e21", method: "POST", path: "/orders", body: '{"customerId":"c","currency":"EUR","items":[{"productId":"p","quantity":1e21,"unitPrice":1}]}', headers: JSON_TYPE, status: 422, type: "VALIDATION_ERROR" },
  { name: "a negative price", method: "POST", path: "/orders", body: line({ unitPrice: -1 }), headers: JSON_TYPE, status: 422, type: "VALIDATION_ERROR" },
  { name: "a price beyond exact integers", method: "POST", path: "/orders", body: '{"customerId":"c","currency":"EUR","items":[{"productId":"p","quantity":1,"unitPrice":9007199254740993}]}', headers: JSON_TYPE, status: 422, type: "VALIDATION_ERROR" },
  { name: "a price of 1e308", method: "POST", path: "/orders", body: '{"customerId":"c","currency":"EUR","items":[{"productId":"p","quantity":1,"unitPrice":1e308}]}', headers: JSON_TYPE, status: 422, type: "VALIDATION_ERROR" },
  { name: "a total beyond exact integers", method: "POST", path: "/orders", body: line({ quantity: 1000, unitPrice: Number.MAX_SAFE_INTEGER }), headers: JSON_TYPE, status: 422, type: "ORDER_TOTAL_TOO_LARGE" },
  { name: "101 lines", method: "POST", path: "/orders", body: withOrder({ items: Array.from({ length: 101 }, () => order.items[0]) }), headers: JSON_TYPE, status: 422, type: "VALIDATION_ERROR" },
  // Strings.
  { name: "a currency in Unicode look-alikes", method: "POST", path: "/orders", body: withOrder({ currency: "ＥＵＲ" }), headers: JSON_TYPE, status: 422, type: "VALIDATION_ERROR" },
  { name: "a currency with a euro sign", method: "POST", path: "/orders", body: withOrder({ currency: "€UR" }), headers: JSON_TYPE, status: 422, type: "VALIDATION_ERROR" },
  { name: "a customerId of 65 emoji", method: "POST", path: "/orders", body: withOrder({ customerId: "😈".repeat(65) }), headers: JSON_TYPE, status: 422, type: "VALIDATION_ERROR" },
  { name: "an empty productId", method: "POST", path: "/orders", body: line({ productId: "" }), headers: JSON_TYPE, status: 422, type: "VALIDATION_ERROR" },
  { name: "an unknown field (status)", method: "POST", path: "/orders", body: withOrder({ status: "confirmed" }), headers: JSON_TYPE, status: 422, type: "VALIDATION_ERROR" },
  { name: "an Idempotency-Key of 300 characters", method: "POST", path: "/orders", body: JSON.stringify(order), headers: { ...JSON_TYPE, "Idempotency-Key": "k".repeat(300) }, status: 422, type: "VALIDATION_ERROR" },
  { name: "a cancel reason of 501 characters", method: "POST", path: `/orders/${someId}/cancel`, body: JSON.stringify({ reason: "r".repeat(501) }), headers: JSON_TYPE, status: 422, type: "VALIDATION_ERROR" },
  { name: "a cancel reason as a number", method: "POST", path: `/orders/${someId}/cancel`, body: JSON.stringify({ reason: 7 }), headers: JSON_TYPE, status: 422, type: "VALIDATION_ERROR" },
  // Size and media type.
  { name: "a body over 64 KiB", method: "POST", path: "/orders", body: withOrder({ customerId: "x".repeat(70 * 1024) }), headers: JSON_TYPE, status: 413, type: "PAYLOAD_TOO_LARGE" },
  { name: "text/plain", method: "POST", path: "/orders", body: JSON.stringify(order), headers: { "Content-Type": "text/plain" }, status: 415, type: "UNSUPPORTED_MEDIA_TYPE" },
  { name: "application/xml", method: "POST", path: "/orders", body: "<order/>", headers: { "Content-Type": "application/xml" }, status: 415, type: "UNSUPPORTED_MEDIA_TYPE" },
  { name: "a form", method: "POST", path: "/orders", body: "customerId=c", headers: { "Content-Type": "application/x-www-form-urlencoded" }, status: 415, type: "UNSUPPORTED_MEDIA_TYPE" },
  { name: "JSON in UTF-16", method: "POST", path: "/orders", body: JSON.stringify(order), headers: { "Content-Type": "application/json; charset=utf-16" }, status: 415, type: "UNSUPPORTED_MEDIA_TYPE" },
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
  { name: "the saga's reject step", method: "POST", path: `/orders/${someId}/reject`, body: '{"reason":"x"}', headers: JSON_TYPE, status: 404, type: "NOT_FOUND" },
  // Admin routes.
  { name: "chaos without a token", method: "PUT", path: "/chaos/antifraud", body: '{"failureRate":1}', headers: JSON_TYPE, status: 401, type: "UNAUTHORIZED" },
  { name: "chaos with a wrong token", method: "PUT", path: "/chaos/antifraud", body: '{"failureRate":1}', headers: { ...JSON_TYPE, Authorization: "Bearer guess" }, status: 403, type: "FORBIDDEN" },
  { name: "chaos with the token as Basic", method: "PUT", path: "/chaos/antifraud", body: '{"failureRate":1}', headers: { ...JSON_TYPE, Authorization: `Basic ${TOKEN}` }, status: 403, type: "FORBIDDEN" },
  { name: "purge without a token", method: "DELETE", path: `/dlq/${someId}`, body: '{"reason":"x"}', headers: JSON_TYPE, status: 401, type: "UNAUTHORIZED" },
  { name: "replay all without a token", method: "POST", path: "/dlq/replay", body: "{}", headers: JSON_TYPE, status: 401, type: "UNAUTHORIZED" },
  { name: "chaos on a service that has none", method: "PUT", path: "/chaos/orders", body: '{"failureRate":1}', headers: ADMIN, status: 422, type: "VALIDATION_ERROR" },
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

  it("leaves Object.prototype alone", () => {
    expect(({} as Record<string, unknown>).isAdmin).toBeUndefined();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

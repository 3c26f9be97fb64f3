import { randomUUID } from "node:crypto";
import { EmbeddedApp, startEmbeddedApp } from "../support/embedded-app";
import { waitFor } from "../../tools/wait-for";
import { acquireEventStore, releaseEventStore } from "../../adapters/event-store";

const TOKEN = "s3cret-admin-token";
const ADMIN = { Authorization: `Bearer ${TOKEN}` };
/** A second admin, named by ADMIN_TOKENS beside ADMIN_TOKEN (named "admin"). */
const BOB = { Authorization: "Bearer bobs-own-token-42" };
const JSON_TYPE = { "Content-Type": "application/json" };
const placement = { customerId: "c-ops", currency: "EUR", items: [{ productId: "p", quantity: 1, unitPrice: 500 }] };

describe("REST operations: sagas, chaos, DLQ, resilience, admin auth (embedded app)", () => {
  let app: EmbeddedApp;

  beforeAll(async () => {
    app = await startEmbeddedApp({
      env: {
        ADMIN_TOKEN: TOKEN,
        ADMIN_TOKENS: "bob:bobs-own-token-42",
        BUS_RETRY_ATTEMPTS: "2",
        BUS_RETRY_BASE_MS: "10",
        BUS_RETRY_MAX_MS: "20",
        RETRY_RETRIES: "0",
        BUS_NAMESPACE: `test-${randomUUID()}`,
      },
    });
  });
  afterAll(() => app.stop());

  async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
    const response = await fetch(`${app.baseUrl}${path}`, {
      method,
      body: body === undefined ? undefined : JSON.stringify(body),
      headers: body === undefined ? headers : { ...JSON_TYPE, ...headers },
    });
    const text = await response.text();
    return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : undefined };
  }

  it("GET /sagas/:orderId shows the saga of a placed order, 404 for an unknown one", async () => {
    const created = await call("POST", "/orders", placement);
    const saga = await waitFor(async () => {
      const answer = await call("GET", `/sagas/${created.body.id}`);
      return answer.body?.status === "ended" ? answer : undefined;
    });

    expect(saga).toMatchObject({ status: 200, body: { orderId: created.body.id, outcome: "confirmed", reason: null } });
    expect(saga.body.timeline.map((entry: { event: string; step?: string }) => [entry.event, entry.step])).toEqual([
      ["SagaStarted", undefined],
      ["SagaStepSucceeded", "checkFraud"],
      ["SagaStepSucceeded", "authorizePayment"],
      ["SagaStepSucceeded", "confirmOrder"],
      ["SagaStepSucceeded", "capturePayment"],
      ["SagaEnded", undefined],
    ]);
    expect(await call("GET", `/orders/${created.body.id}`)).toMatchObject({ status: 200, body: { status: "confirmed" } });
    expect(await call("GET", `/sagas/${randomUUID()}`)).toMatchObject({ status: 404, body: { type: "SAGA_NOT_FOUND", code: 404 } });
  });

  describe("admin auth", () => {
    it("401 without a token (with WWW-Authenticate), 403 with a wrong one", async () => {
      const without = await call("PUT", "/chaos/antifraud", { failureRate: 0.5 });
      const wrong = await call("PUT", "/chaos/antifraud", { failureRate: 0.5 }, { Authorization: "Bearer nope" });
      const otherScheme = await call("PUT", "/chaos/antifraud", { failureRate: 0.5 }, { Authorization: `Basic ${TOKEN}` });

      expect(without).toMatchObject({ status: 401, body: { type: "UNAUTHORIZED", code: 401 } });
      expect(without.headers.get("www-authenticate")).toMatch(/^Bearer/);
      expect(wrong).toMatchObject({ status: 403, body: { type: "FORBIDDEN", code: 403 } });
      expect(otherScheme).toMatchObject({ status: 403 });
      expect((await call("GET", "/chaos")).body.antifraud).toEqual({ failureRate: 0, latencyMs: 0, mode: "error" });
    });

    it.each([
      ["DELETE", `/dlq/${randomUUID()}`, { reason: "x" }],
      ["POST", `/dlq/${randomUUID()}/replay`, undefined],
      ["POST", "/dlq/replay", {}],
      ["PATCH", `/dlq/${randomUUID()}`, { patch: [{ op: "remove", path: "/data" }], reason: "x" }],
      ["POST", "/dlq/groups/0123456789ab/purge", { reason: "x" }],
      ["POST", `/dlq/jobs/${randomUUID()}/cancel`, {}],
    ])("%s %s needs the token", async (method, path, body) => {
      expect(await call(method, path, body)).toMatchObject({ status: 401, body: { type: "UNAUTHORIZED" } });
    });
  });

  describe("chaos", () => {
    afterEach(() => call("PUT", "/chaos/antifraud", { failureRate: 0, latencyMs: 0, mode: "error" }, ADMIN));

    it("changes a participant's faults at run time and reads them back", async () => {
      const changed = await call("PUT", "/chaos/payments", { failureRate: 0.25, latencyMs: 40, mode: "timeout" }, ADMIN);

      expect(changed).toMatchObject({ status: 200, body: { failureRate: 0.25, latencyMs: 40, mode: "timeout" } });
      await waitFor(async () => (await call("GET", "/chaos")).body.payments.latencyMs === 40);
      expect((await call("GET", "/chaos")).body).toEqual({
        antifraud: { failureRate: 0, latencyMs: 0, mode: "error" },
        payments: { failureRate: 0.25, latencyMs: 40, mode: "timeout" },
      });
      await call("PUT", "/chaos/payments", { failureRate: 0, latencyMs: 0, mode: "error" }, ADMIN);
    });

    it.each([
      ["/chaos/antifraud", { failureRate: 1.5 }],
      ["/chaos/antifraud", { latencyMs: -1 }],
      ["/chaos/antifraud", { mode: "explode" }],
      ["/chaos/orders", { failureRate: 0.5 }],
      ["/chaos/antifraud", { failureRate: "0.5" }],
    ])("refuses PUT %s %o with 422", async (path, body) => {
      expect(await call("PUT", path, body, ADMIN)).toMatchObject({ status: 422, body: { type: "VALIDATION_ERROR" } });
    });
  });

  describe("DLQ", () => {
    it("lists, shows, purges with a reason kept as a record, refuses to replay a purged entry, replays the rest", async () => {
      await call("PUT", "/chaos/antifraud", { failureRate: 1 }, ADMIN);
      const doomed = [(await call("POST", "/orders", placement)).body.id, (await call("POST", "/orders", placement)).body.id];
      const listed = await waitFor(async () => {
        const answer = await call("GET", "/dlq?status=dead&eventType=OrderCreated&originQueue=orchestrator");
        return answer.body.items.length === 2 ? answer : undefined;
      });
      await call("PUT", "/chaos/antifraud", { failureRate: 0 }, ADMIN);

      expect(listed.status).toBe(200);
      expect(new Set(listed.body.items.map((entry: { orderId: string }) => entry.orderId))).toEqual(new Set(doomed));
      const [first, second] = listed.body.items as { id: string; orderId: string; group: string }[];
      expect(listed.body.items[0]).toEqual({
        id: first!.id,
        status: "dead",
        originQueue: "orchestrator",
        eventType: "OrderCreated",
        orderId: first!.orderId,
        attempts: 2,
        lastError: "MoleculerRetryableError: chaos: antifraud failed on purpose",
        lastFailureAt: expect.any(String),
        deaths: 1,
        replays: 0,
        group: expect.stringMatching(/^[0-9a-f]{12}$/),
        edited: false,
      });
      // Both died of one cause, in one place: one group.
      expect((await call("GET", "/dlq/groups")).body).toEqual({
        items: [
          {
            group: first!.group,
            errorType: "MoleculerRetryableError",
            message: "chaos: antifraud failed on purpose",
            originQueue: "orchestrator",
            eventType: "OrderCreated",
            count: 2,
            firstSeen: expect.any(String),
            lastSeen: expect.any(String),
          },
        ],
      });
      expect((await call("GET", `/dlq?group=${first!.group}`)).body.items).toHaveLength(2);
      expect((await call("GET", "/dlq?group=000000000000")).body.items).toEqual([]);
      const shown = await call("GET", `/dlq/${first!.id}`);
      expect(shown).toMatchObject({
        status: 200,
        body: { status: "dead", message: { topic: "OrderCreated", originQueue: "orchestrator", payload: { data: { orderId: first!.orderId } } } },
      });

      const purged = await call("DELETE", `/dlq/${first!.id}`, { reason: "test order, not worth replaying" }, BOB);
      expect(purged).toMatchObject({ status: 200, body: { id: first!.id, status: "purged" } });
      expect((await call("GET", `/dlq/${first!.id}`)).body.purge).toEqual({ reason: "test order, not worth replaying", at: expect.any(String) });
      expect(await call("POST", `/dlq/${first!.id}/replay`, undefined, ADMIN)).toMatchObject({ status: 409, body: { type: "DEAD_LETTER_PURGED" } });
      expect(await call("DELETE", `/dlq/${second!.id}`, {}, ADMIN)).toMatchObject({ status: 422, body: { type: "VALIDATION_ERROR" } });

      // As an operator would: wait until no breaker is open any more, then replay what is dead.
      await waitFor(async () => (await call("GET", "/resilience")).body.breakers.every((breaker: { state: string }) => breaker.state !== "open"), {
        timeoutMs: 15_000,
        what: "the breakers to let calls through",
      });
      const started = await call("POST", "/dlq/replay", {}, ADMIN);
      expect(started).toMatchObject({ status: 202, body: { kind: "replay", status: "running", total: 1, by: "admin" } });
      expect(started.headers.get("location")).toBe(`/api/dlq/jobs/${started.body.id}`);
      const job = await waitFor(async () => {
        const answer = await call("GET", `/dlq/jobs/${started.body.id}`);
        return answer.body.status === "running" ? undefined : answer.body;
      });
      expect(job).toMatchObject({ status: "done", total: 1, replayed: 1, skipped: 0, failed: 0, endedAt: expect.any(String) });
      await waitFor(async () => (await call("GET", `/orders/${second!.orderId}`)).body.status === "confirmed", { what: "the replayed order to be confirmed" });
      expect((await call("GET", `/orders/${first!.orderId}`)).body.status).toBe("pending");

      // Each admin action's events name the admin whose token did it; the others name nobody.
      const store = acquireEventStore(app.config.eventStoreUrl);
      try {
        const actors = async (id: string) => (await store.read(`deadletter-${id}`)).map((event) => [event.type, event.metadata.actor]);
        expect(await actors(first!.id)).toEqual([
          ["MessageDeadLettered", undefined],
          ["DeadLetterPurged", "bob"],
        ]);
        expect((await actors(second!.id)).slice(1).map(([, actor]) => actor)).toEqual(expect.arrayContaining(["admin"]));
        expect((await actors(second!.id)).slice(1).every(([, actor]) => actor === "admin")).toBe(true);
      } finally {
        await releaseEventStore(app.config.eventStoreUrl);
      }
    });

    it("answers 404 for an unknown entry and 422 for an id that is not one", async () => {
      expect(await call("GET", `/dlq/${randomUUID()}`)).toMatchObject({ status: 404, body: { type: "DEAD_LETTER_NOT_FOUND" } });
      expect(await call("GET", "/dlq/not-an-id")).toMatchObject({ status: 422, body: { type: "VALIDATION_ERROR" } });
      expect(await call("GET", "/dlq?limit=0")).toMatchObject({ status: 422 });
      expect(await call("GET", "/dlq?group=not-a-group")).toMatchObject({ status: 422, body: { type: "VALIDATION_ERROR" } });
      expect(await call("GET", `/dlq/jobs/${randomUUID()}`)).toMatchObject({ status: 404, body: { type: "DLQ_JOB_NOT_FOUND" } });
      const edit = { patch: [{ op: "replace", path: "/data/total", value: 1 }], reason: "fix" };
      expect(await call("PATCH", `/dlq/${randomUUID()}`, edit, ADMIN)).toMatchObject({ status: 404, body: { type: "DEAD_LETTER_NOT_FOUND" } });
      expect(await call("PATCH", `/dlq/${randomUUID()}`, { ...edit, patch: [] }, ADMIN)).toMatchObject({ status: 422, body: { type: "VALIDATION_ERROR" } });
      expect(await call("PATCH", `/dlq/${randomUUID()}`, { ...edit, patch: [{ op: "rename", path: "/a" }] }, ADMIN)).toMatchObject({
        status: 422,
        body: { type: "VALIDATION_ERROR" },
      });
      expect(await call("POST", "/dlq/groups/0123456789ab/purge", {}, ADMIN)).toMatchObject({ status: 422, body: { type: "VALIDATION_ERROR" } });
    });

    it("purges a group as a job, the reason kept with each entry; an ended job cannot be cancelled", async () => {
      await call("PUT", "/chaos/payments", { failureRate: 1 }, ADMIN);
      const doomed = (await call("POST", "/orders", { ...placement, customerId: "c-group" })).body.id as string;
      const entry = await waitFor(async () => {
        const answer = await call("GET", "/dlq?status=dead&limit=100");
        return (answer.body.items as { orderId: string; group: string; id: string }[]).find((item) => item.orderId === doomed);
      });
      await call("PUT", "/chaos/payments", { failureRate: 0 }, ADMIN);

      const started = await call("POST", `/dlq/groups/${entry.group}/purge`, { reason: "payments test, not worth replaying" }, BOB);

      expect(started).toMatchObject({
        status: 202,
        body: { kind: "purge", filter: { group: entry.group }, by: "bob", reason: "payments test, not worth replaying" },
      });
      const job = await waitFor(async () => {
        const answer = await call("GET", `/dlq/jobs/${started.body.id}`);
        return answer.body.status === "running" ? undefined : answer.body;
      });
      expect(job).toMatchObject({ status: "done", total: started.body.total, purged: started.body.total, replayed: 0, failed: 0 });
      expect((await call("GET", `/dlq/${entry.id}`)).body).toMatchObject({ status: "purged", purge: { reason: "payments test, not worth replaying" } });
      expect((await call("GET", `/dlq?group=${entry.group}&status=dead`)).body.items).toEqual([]);
      expect((await call("GET", "/dlq/jobs?limit=1")).body.items).toEqual([job]);
      expect(await call("POST", `/dlq/jobs/${job.id}/cancel`, {}, ADMIN)).toMatchObject({ status: 409, body: { type: "DLQ_JOB_ENDED" } });
    });
  });

  it("GET /resilience reports breakers, bulkheads and the DLQ depth", async () => {
    const answer = await call("GET", "/resilience");

    expect(answer.status).toBe(200);
    expect(answer.body.breakers).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          caller: app.broker.nodeID,
          endpoint: { nodeID: app.broker.nodeID, action: "antifraud.check" },
          state: expect.stringMatching(/closed|open|half-open/),
        }),
      ]),
    );
    expect(answer.body.bulkheads).toEqual(expect.arrayContaining([expect.objectContaining({ action: "antifraud.check", inFlight: 0, queued: 0 })]));
    expect(answer.body.dlq).toEqual({ depth: expect.any(Number) });
  });
});

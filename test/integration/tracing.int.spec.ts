import { EmbeddedApp, startEmbeddedApp } from "../support/embedded-app";
import { waitFor } from "../../tools/wait-for";
import { RecordedSpan } from "../../tracing/recorded-span";
import { newSpanId, newTraceId } from "../../tracing/trace-context";
import { ORDER_TRACE, orderTrace, parentLines, placeOrder, spansSoFar, traceOf } from "../support/traces";

describe("tracing: one trace per order, faults included (embedded mode)", () => {
  let app: EmbeddedApp | undefined;
  afterEach(async () => {
    await app?.stop();
    app = undefined;
  });

  it("makes one order one trace, from the HTTP request through orders, the relay, the bus, the orchestrator and each participant", async () => {
    app = await startEmbeddedApp();
    const traceId = newTraceId();
    const callerSpan = newSpanId();

    const placed = await placeOrder(app.baseUrl, { traceparent: `00-${traceId}-${callerSpan}-01` });

    expect(placed.status).toBe(201);
    // The request's id is its trace's: X-Request-ID answers it.
    expect(placed.requestId).toBe(traceId);
    const spans = await orderTrace(app.baseUrl, traceId);
    expect(parentLines(spans)).toEqual(ORDER_TRACE);
    expect(new Set(spans.map((span) => span.traceId))).toEqual(new Set([traceId]));
    const root = spans.find((span) => span.name === "POST /api/orders")!;
    expect(root.parentId).toBe(callerSpan);
    expect(root.kind).toBe("server");
    // The stored event names the span that recorded it: what handles it is that span's child.
    const [created] = await app.store.read(`order-${placed.orderId}`);
    const create = spans.find((span) => span.name === "action 'orders.create'")!;
    expect(created!.metadata.traceparent).toBe(`00-${traceId}-${create.id}-01`);
    const consume = spans.find((span) => span.name === "consume OrderCreated")!;
    expect(consume).toMatchObject({
      kind: "consumer",
      service: "orchestrator",
      error: null,
      links: [],
      attributes: {
        "messaging.system": "in-process",
        "messaging.destination.name": "orchestrator",
        "messaging.message.id": created!.id,
        "messaging.delivery.attempt": 1,
      },
    });
    // The saga's view names its trace (the dashboard draws it from there).
    const saga = (await (await fetch(`${app.baseUrl}/sagas/${placed.orderId}`)).json()) as { traceId: string };
    expect(saga.traceId).toBe(traceId);
  });

  it("starts a trace of its own for a request with no traceparent or a malformed one, and records nothing of an unsampled one", async () => {
    app = await startEmbeddedApp();
    const unsampled = newTraceId();

    const fresh = await placeOrder(app.baseUrl, {});
    const malformed = await placeOrder(app.baseUrl, { traceparent: `00-${"0".repeat(32)}-${newSpanId()}-01` });
    const notSampled = await placeOrder(app.baseUrl, { traceparent: `00-${unsampled}-${newSpanId()}-00` });

    expect(fresh.requestId).toMatch(/^[0-9a-f]{32}$/);
    expect(malformed.requestId).toMatch(/^[0-9a-f]{32}$/);
    expect(malformed.requestId).not.toBe("0".repeat(32));
    expect(notSampled.requestId).toBe(unsampled);
    // A trace started here has a root: the request's span, with no parent.
    const rootLines = ORDER_TRACE.map((line) => line.replace("<- (caller)", "<- (none)")).sort();
    expect(parentLines(await orderTrace(app.baseUrl, fresh.requestId))).toEqual(rootLines);
    expect(parentLines(await orderTrace(app.baseUrl, malformed.requestId))).toEqual(rootLines);
    // The unsampled order still carries its context on, flagged as not sampled.
    const [created] = await app.store.read(`order-${notSampled.orderId}`);
    expect(created!.metadata.traceparent).toMatch(new RegExp(`^00-${unsampled}-[0-9a-f]{16}-00$`));
    // Spans reach the collector in the order they finish: once a later order's trace is whole, an unsampled one would be in.
    const later = await placeOrder(app.baseUrl, {});
    await orderTrace(app.baseUrl, later.requestId);
    expect((await traceOf(app.baseUrl, unsampled)).status).toBe(404);
  });

  it("makes each redelivery a span linked to the attempt it retries, with the delay it waited, and shows the chaos failure on the participant's span", async () => {
    app = await startEmbeddedApp({
      env: {
        ANTIFRAUD_CHAOS_FAILURE_RATE: "1",
        // One participant call per delivery, and a breaker that stays closed: the bus's redeliveries are the retries here.
        RETRY_RETRIES: "0",
        BREAKER_MIN_REQUESTS: "1000",
        BUS_RETRY_ATTEMPTS: "30",
        BUS_RETRY_BASE_MS: "20",
        BUS_RETRY_MAX_MS: "100",
      },
    });
    const traceId = newTraceId();

    const placed = await placeOrder(app.baseUrl, { traceparent: `00-${traceId}-${newSpanId()}-01` });
    await waitFor(async () => (await app!.broker.call<unknown[]>("orchestrator.redeliveries")).length > 0, { what: "a redelivery" });
    await app.broker.call("api.setChaos", { service: "antifraud", failureRate: 0 });
    const spans = await orderTrace(app.baseUrl, traceId);

    const attempts = spans.filter((span) => span.name === "consume OrderCreated").sort((a, b) => attempt(a) - attempt(b));
    expect(attempts.length).toBeGreaterThanOrEqual(2);
    expect(attempts.map(attempt)).toEqual(attempts.map((_span, index) => index + 1));
    const publish = spans.find((span) => span.name === "publish OrderCreated")!;
    attempts.forEach((span, index) => {
      // Every attempt is a child of the one publish; each retry is linked to the attempt that failed.
      expect(span.parentId).toBe(publish.id);
      if (index === 0) {
        expect(span.links).toEqual([]);
        expect(span.attributes["messaging.retry.waited_ms"]).toBeUndefined();
      } else {
        expect(span.links).toEqual([{ traceId, spanId: attempts[index - 1]!.id, attributes: { "link.reason": "retry", "messaging.delivery.attempt": index } }]);
        expect(span.attributes["messaging.retry.waited_ms"]).toEqual(expect.any(Number));
        expect(span.attributes["messaging.retry.waited_ms"]).toBeGreaterThanOrEqual(0);
      }
    });
    const failed = attempts.slice(0, -1);
    expect(failed.map((span) => span.error?.message)).toEqual(failed.map(() => "chaos: antifraud failed on purpose"));
    expect(attempts.at(-1)!.error).toBeNull();
    // The failure shows on the span where chaos injected it: the participant's call, under each failed attempt.
    for (const span of failed) {
      const checks = spans.filter((child) => child.parentId === span.id && child.name === "action 'antifraud.check'");
      expect(checks).toHaveLength(1);
      expect(checks[0]).toMatchObject({
        service: "antifraud",
        error: { name: "MoleculerRetryableError", code: 503, type: "CHAOS_INJECTED_FAILURE" },
        events: [{ name: "chaos.injected", time: expect.any(Number), attributes: { "chaos.kind": "failure", "chaos.mode": "error", "chaos.failure_rate": 1 } }],
      });
    }
    expect(spans.filter((span) => span.events.some((event) => event.name === "chaos.injected"))).toHaveLength(failed.length);
    const saga = (await (await fetch(`${app.baseUrl}/sagas/${placed.orderId}`)).json()) as { status: string; outcome: string };
    expect(saga).toMatchObject({ status: "ended", outcome: "confirmed" });
  });

  it("records a call an open circuit breaker refused as an event of the caller's span, and a message handed back as no failure", async () => {
    app = await startEmbeddedApp({
      env: {
        // Every check fails, slowly: the trial call of a half-open breaker is in flight while the other deliveries call.
        ANTIFRAUD_CHAOS_FAILURE_RATE: "1",
        ANTIFRAUD_CHAOS_LATENCY_MS: "100",
        RETRY_RETRIES: "0",
        // The first failure opens antifraud's breaker.
        BREAKER_MIN_REQUESTS: "1",
        BREAKER_THRESHOLD: "0.5",
        BREAKER_HALF_OPEN_MS: "300",
        BUS_RETRY_ATTEMPTS: "30",
        BUS_RETRY_BASE_MS: "20",
        BUS_RETRY_MAX_MS: "50",
      },
    });
    const traceIds = [newTraceId(), newTraceId(), newTraceId()];

    const placed = await Promise.all(traceIds.map((traceId) => placeOrder(app!.baseUrl, { traceparent: `00-${traceId}-${newSpanId()}-01` })));
    const refused = await waitFor(
      async () => {
        for (const traceId of traceIds) {
          const spans = await spansSoFar(app!.baseUrl, traceId);
          const found = spans.find((span) => span.events.some((event) => event.name === "breaker.rejected"));
          if (found) return found;
        }
        return undefined;
      },
      { what: "a delivery span with a breaker's refusal", timeoutMs: 15_000 },
    );
    await app.broker.call("api.setChaos", { service: "antifraud", failureRate: 0, latencyMs: 0 });

    // The refused call reached no participant: no span of antifraud for it, an event on the delivery's span instead.
    expect(refused).toMatchObject({ name: "consume OrderCreated", service: "orchestrator", error: null });
    expect(refused.events).toEqual([
      {
        name: "breaker.rejected",
        time: expect.any(Number),
        attributes: { "breaker.action": "antifraud.check", "error.message": "Service 'antifraud.check' is not available." },
      },
      {
        name: "message.handed-back",
        time: expect.any(Number),
        attributes: { reason: expect.stringMatching(/^the circuit breaker of antifraud.check is open/) },
      },
    ]);
    // Every saga settles once the breaker lets a trial call through.
    for (const traceId of traceIds) await orderTrace(app.baseUrl, traceId);
    expect(placed.map((order) => order.status)).toEqual([201, 201, 201]);
  });

  it("continues the order's trace when its dead-lettered message is replayed: the replay is one more delivery of the same publish", async () => {
    app = await startEmbeddedApp({
      env: {
        ADMIN_TOKEN: "t",
        ANTIFRAUD_CHAOS_FAILURE_RATE: "1",
        RETRY_RETRIES: "0",
        BUS_RETRY_ATTEMPTS: "2",
        BUS_RETRY_BASE_MS: "10",
        BUS_RETRY_MAX_MS: "20",
      },
    });
    const traceId = newTraceId();
    const admin = { authorization: "Bearer t", "content-type": "application/json" };

    await placeOrder(app.baseUrl, { traceparent: `00-${traceId}-${newSpanId()}-01` });
    const [dead] = await waitFor(
      async () => {
        const { items } = (await (await fetch(`${app!.baseUrl}/dlq?status=dead`)).json()) as { items: { id: string }[] };
        return items.length === 1 && items;
      },
      { what: "the order's message in the DLQ" },
    );
    await app.broker.call("api.setChaos", { service: "antifraud", failureRate: 0 });
    const replayed = await fetch(`${app.baseUrl}/dlq/${dead!.id}/replay`, { method: "POST", headers: admin, body: "{}" });
    const spans = await orderTrace(app.baseUrl, traceId);

    expect(replayed.status).toBe(200);
    const publish = spans.find((span) => span.name === "publish OrderCreated")!;
    const deliveries = spans.filter((span) => span.name === "consume OrderCreated").sort((a, b) => a.startTime - b.startTime);
    // Two attempts, dead-lettered; the replay, a first attempt again (the DLQ sends it as one), in the same trace.
    expect(deliveries.map((span) => ({ parent: span.parentId, attempt: attempt(span), failed: span.error !== null, links: span.links.length }))).toEqual([
      { parent: publish.id, attempt: 1, failed: true, links: 0 },
      { parent: publish.id, attempt: 2, failed: true, links: 1 },
      { parent: publish.id, attempt: 1, failed: false, links: 0 },
    ]);
  });

  it("with TRACING=off, records no span and carries no context, and the saga names no trace", async () => {
    app = await startEmbeddedApp({ env: { TRACING: "off" } });
    const traceId = newTraceId();

    const placed = await placeOrder(app.baseUrl, { traceparent: `00-${traceId}-${newSpanId()}-01` });
    const saga = await waitFor(
      async () => {
        const answer = (await (await fetch(`${app!.baseUrl}/sagas/${placed.orderId}`)).json()) as { status?: string; traceId?: string | null };
        return answer.status === "ended" && answer;
      },
      { what: "the saga to end" },
    );

    expect(saga.traceId).toBeNull();
    const events = [...(await app.store.read(`order-${placed.orderId}`)), ...(await app.store.read(`saga-${placed.orderId}`))];
    expect(events.filter((event) => "traceparent" in event.metadata)).toEqual([]);
    expect(events.length).toBeGreaterThan(2);
    const response = await traceOf(app.baseUrl, traceId);
    expect(response.status).toBe(404);
    expect(((await response.json()) as { type: string }).type).toBe("TRACE_NOT_FOUND");
  });

  it("traces a saga the deadline scheduler times out in its order's trace: the expiry, the rejection and the undo", async () => {
    // Payments answer after the saga's deadline: the scheduler expires the saga while its step waits.
    app = await startEmbeddedApp({ env: { SAGA_DEADLINE_MS: "500", PAYMENTS_CHAOS_LATENCY_MS: "3000", REQUEST_TIMEOUT_MS: "10000" } });
    const traceId = newTraceId();

    const placed = await placeOrder(app.baseUrl, { traceparent: `00-${traceId}-${newSpanId()}-01` });
    const spans = await waitFor(
      async () => {
        const found = await spansSoFar(app!.baseUrl, traceId);
        const names = found.map((span) => span.name);
        return names.includes("expire saga") && names.includes("publish SagaEnded") && names.includes("publish OrderRejected") && found;
      },
      { what: "the expiry in the order's trace", timeoutMs: 15_000 },
    );
    await app.broker.call("api.setChaos", { service: "payments", latencyMs: 0 });

    const expire = spans.find((span) => span.name === "expire saga")!;
    const started = spans.find((span) => span.name === "publish SagaStarted")!;
    // A child of the span that started the saga (SagaStarted's traceparent): the delivery of OrderCreated.
    expect(expire).toMatchObject({
      kind: "internal",
      service: "orchestrator",
      parentId: started.parentId,
      error: null,
      attributes: { orderId: placed.orderId },
    });
    const children = spans.filter((span) => span.parentId === expire.id).map((span) => span.name);
    expect(children).toEqual(expect.arrayContaining(["action 'orders.reject'", "publish SagaTimedOut", "publish SagaEnded"]));
    expect(spans.find((span) => span.name === "publish OrderRejected")!.parentId).toBe(spans.find((span) => span.name === "action 'orders.reject'")!.id);
  });
});

function attempt(span: RecordedSpan): number {
  return Number(span.attributes["messaging.delivery.attempt"]);
}

import { randomUUID } from "node:crypto";
import { ServiceSchema } from "moleculer";
import { EventStore, acquireEventStore, releaseEventStore } from "../../adapters/event-store";
import { acquireMessageBus, releaseMessageBus } from "../../adapters/bus";
import { CHAOS_CONFIGURED, ChaosConfigured } from "../../mixins/chaos.mixin";
import { ServiceName, serviceFactories } from "../../services";
import { busFixtures } from "../support/buses";
import { EmbeddedApp, globalLog, startEmbeddedApp, typesOf } from "../support/embedded-app";
import { waitFor } from "../../tools/wait-for";
import { Clock } from "../../adapters/clock";
import { SagaTimeLimits } from "../../domain/order-saga";
import { orchestratorService } from "../../services/orchestrator.service";

const placement = (customerId: string, unitPrice = 1250) => ({
  customerId,
  currency: "EUR",
  items: [{ productId: "book", quantity: 2, unitPrice }],
});

/** The steps of a saga of definition v1 that confirmed its order, each once and in order. */
const CONFIRMED_V1 = [
  "SagaStarted",
  "SagaStepSucceeded:checkFraud",
  "SagaStepSucceeded:authorizePayment",
  "SagaStepSucceeded:confirmOrder",
  "SagaEnded:confirmed",
];
/** The same for definition v2 (SAGA_DEFINITION's default): the payment is captured once the order is confirmed. */
const CONFIRMED = [...CONFIRMED_V1.slice(0, -1), "SagaStepSucceeded:capturePayment", "SagaEnded:confirmed"];

const ALL: ServiceName[] = ["orders", "relay", "orchestrator", "antifraud", "payments"];

/** The default limits (minutes), so that only a clock moved on by the test makes a saga overdue. */
const DEFAULT_LIMITS: SagaTimeLimits = { deadlineMs: 600_000, stepTimeoutMs: 300_000 };
const ALICE = { Authorization: "Bearer alice-token" };

/** A clock the test moves on: the real time plus `offsetMs`. */
function movableClock(): Clock & { offsetMs: number } {
  const clock = { offsetMs: 0, now: () => new Date(Date.now() + clock.offsetMs) };
  return clock;
}

/**
 * A payments.authorize that waits for the test, for the customers `holds` names: `arrived` once
 * such a call came, `release()` lets every held call go.
 */
function heldAuthorizations(holds: (customerId: string) => boolean = () => true) {
  let entered!: () => void;
  const arrived = new Promise<void>((resolve) => (entered = resolve));
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const mod = {
    hooks: {
      before: {
        async authorize(ctx: { params: { customerId: string } }) {
          if (!holds(ctx.params.customerId)) return;
          entered();
          await released;
        },
      },
    },
  };
  return { arrived, release, mod };
}

/** The saga's steps as recorded, e.g. "SagaStepSucceeded:checkFraud". */
async function sagaSteps(store: EventStore, orderId: string): Promise<string[]> {
  const events = await store.read(`saga-${orderId}`).catch(() => []);
  return events.map((event) => {
    const data = event.data as { step?: string; outcome?: string };
    return [event.type, data.step ?? data.outcome].filter(Boolean).join(":");
  });
}

async function sagaEnded(store: EventStore, orderId: string): Promise<string[] | undefined> {
  const steps = await sagaSteps(store, orderId);
  return steps.some((step) => step.startsWith("SagaEnded")) ? steps : undefined;
}

describe.each(busFixtures)("order saga on the $name", (bus) => {
  let env: Record<string, string>;
  let apps: EmbeddedApp[];

  beforeEach(() => {
    env = {
      ...bus.env(),
      EVENT_STORE_URL: `memory:${randomUUID()}`,
      ANTIFRAUD_BLOCKLIST: "mallory",
      PAYMENTS_LIMIT: "100000",
      BUS_RETRY_ATTEMPTS: "30",
      BUS_RETRY_BASE_MS: "10",
      BUS_RETRY_MAX_MS: "100",
    };
    apps = [];
  });
  afterEach(async () => {
    for (const app of apps) await app.stop();
    await bus.cleanUp(env.BUS_NAMESPACE!, ["orchestrator"]);
  });

  async function start(services: ServiceName[] = ALL, mods: Partial<Record<ServiceName, Partial<ServiceSchema>>> = {}, extraEnv: Record<string, string> = {}) {
    const app = await startEmbeddedApp({ env: { ...env, ...extraEnv }, services, mods });
    apps.push(app);
    return app;
  }

  /** Every service with the gateway, the orchestrator on `clock` (the others on the system's). */
  async function startWithClock(clock: Clock, limits: SagaTimeLimits, mods: Partial<Record<ServiceName, Partial<ServiceSchema>>> = {}) {
    Object.assign(env, { ADMIN_TOKENS: "alice:alice-token" });
    const app = await start(["api", "orders", "relay", "antifraud", "payments"], mods);
    const { config } = app;
    app.broker.createService(
      orchestratorService({
        eventStoreUrl: config.eventStoreUrl,
        bus: { url: config.busUrl, namespace: config.busNamespace },
        consume: { prefetch: config.busPrefetch, retry: config.busRetry },
        limits,
        clock,
      }),
    );
    await app.broker.waitForServices("orchestrator");
    return app;
  }

  async function http(app: EmbeddedApp, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
    const response = await fetch(`${app.baseUrl}${path}`, {
      method,
      body: body === undefined ? undefined : JSON.stringify(body),
      headers: body === undefined ? headers : { "Content-Type": "application/json", ...headers },
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : undefined };
  }

  it("confirms an order: fraud check, payment, confirmation, each recorded once and in order", async () => {
    const app = await start();
    const order = await app.broker.call<{ id: string }, object>("orders.create", placement("alice"));

    const steps = await waitFor(() => sagaEnded(app.store, order.id), { what: "the saga to end" });

    expect(steps).toEqual(CONFIRMED);
    expect(await typesOf(app.store, `order-${order.id}`)).toEqual(["OrderCreated", "OrderConfirmed"]);
    expect(await typesOf(app.store, `payment-${order.id}`)).toEqual(["PaymentAuthorized", "PaymentCaptured"]);
    await expect(app.broker.call("orchestrator.get", { orderId: order.id })).resolves.toMatchObject({
      orderId: order.id,
      status: "ended",
      outcome: "confirmed",
      reason: null,
      definition: 2,
      timeline: [
        { event: "SagaStarted", customerId: "alice", amount: 2500, currency: "EUR", definition: 2 },
        { event: "SagaStepSucceeded", step: "checkFraud" },
        { event: "SagaStepSucceeded", step: "authorizePayment" },
        { event: "SagaStepSucceeded", step: "confirmOrder" },
        { event: "SagaStepSucceeded", step: "capturePayment" },
        { event: "SagaEnded", outcome: "confirmed", reason: null },
      ],
    });
  });

  it("rejects an order of a blocked customer with FRAUD_REJECTED and never asks for payment", async () => {
    const app = await start();
    const order = await app.broker.call<{ id: string }, object>("orders.create", placement("mallory"));

    const steps = await waitFor(() => sagaEnded(app.store, order.id), { what: "the saga to end" });

    expect(steps).toEqual(["SagaStarted", "SagaStepFailed:checkFraud", "SagaStepSucceeded:rejectOrder", "SagaEnded:rejected"]);
    await expect(app.broker.call("orders.get", { id: order.id })).resolves.toMatchObject({ status: "rejected", reason: "FRAUD_REJECTED" });
    expect(await typesOf(app.store, `payment-${order.id}`)).toEqual([]);
    const saga = await app.store.read(`saga-${order.id}`);
    expect(saga[1]!.data).toMatchObject({ step: "checkFraud", reason: "FRAUD_REJECTED", detail: "CUSTOMER_BLOCKED" });
  });

  it("rejects an order above the payment limit with PAYMENT_DECLINED", async () => {
    const app = await start();
    const order = await app.broker.call<{ id: string }, object>("orders.create", placement("alice", 60_000));

    const steps = await waitFor(() => sagaEnded(app.store, order.id), { what: "the saga to end" });

    expect(steps).toEqual([
      "SagaStarted",
      "SagaStepSucceeded:checkFraud",
      "SagaStepFailed:authorizePayment",
      "SagaStepSucceeded:rejectOrder",
      "SagaEnded:rejected",
    ]);
    await expect(app.broker.call("orders.get", { id: order.id })).resolves.toMatchObject({ status: "rejected", reason: "PAYMENT_DECLINED" });
    expect(await typesOf(app.store, `payment-${order.id}`)).toEqual(["PaymentDeclined"]);
  });

  it("voids the payment of an order cancelled while it was being authorised, and ends cancelled", async () => {
    let entered!: () => void;
    const authorizing = new Promise<void>((resolve) => (entered = resolve));
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const app = await start(ALL, {
      payments: {
        hooks: {
          before: {
            async authorize() {
              entered();
              await released;
            },
          },
        },
      },
    });
    const order = await app.broker.call<{ id: string }, object>("orders.create", placement("alice"));

    await authorizing;
    await app.broker.call("orders.cancel", { id: order.id, reason: "changed my mind" });
    release();
    const steps = await waitFor(
      async () => {
        const recorded = await sagaEnded(app.store, order.id);
        return recorded?.includes("SagaStepCompensated:authorizePayment") ? recorded : undefined;
      },
      { what: "the payment to be voided" },
    );

    expect(steps.filter((step) => step === "SagaStepSucceeded:authorizePayment")).toHaveLength(1);
    expect(steps.filter((step) => step === "SagaStepCompensated:authorizePayment")).toHaveLength(1);
    expect(steps).toContain("SagaEnded:cancelled");
    expect(steps).not.toContain("SagaStepSucceeded:confirmOrder");
    expect(await typesOf(app.store, `payment-${order.id}`)).toEqual(["PaymentAuthorized", "PaymentVoided"]);
    expect(await typesOf(app.store, `order-${order.id}`)).toEqual(["OrderCreated", "OrderCancelled"]);
  });

  it("voids a payment whose authorisation timed out when the order is cancelled meanwhile: no money stays held", async () => {
    Object.assign(env, { PAYMENTS_CHAOS_LATENCY_MS: "400", REQUEST_TIMEOUT_MS: "100", RETRY_RETRIES: "0" });
    let authorizations = 0;
    const app = await start(ALL, { payments: { hooks: { after: { authorize: (_ctx: unknown, answer: unknown) => ((authorizations += 1), answer) } } } });
    const order = await app.broker.call<{ id: string }, object>("orders.create", placement("alice"));
    await waitFor(async () => (await sagaSteps(app.store, order.id)).includes("SagaStepSucceeded:checkFraud"));

    await app.broker.call("orders.cancel", { id: order.id });
    // The operator lifts the latency, so that the void is answered in time.
    await app.broker.broadcast(CHAOS_CONFIGURED, { service: "payments", settings: { failureRate: 0, latencyMs: 0, mode: "error" } } satisfies ChaosConfigured);
    await waitFor(() => authorizations > 0, { what: "the slow authorisation to reach payments" });
    const steps = await waitFor(() => sagaEnded(app.store, order.id), { what: "the saga to end" });

    expect(steps).toContain("SagaStepCompensated:authorizePayment");
    expect(steps).toContain("SagaEnded:cancelled");
    const payment = await typesOf(app.store, `payment-${order.id}`);
    expect(payment[payment.length - 1]).toBe("PaymentVoided");
    await expect(app.broker.call("orders.get", { id: order.id })).resolves.toMatchObject({ status: "cancelled" });
  });

  it("resumes a saga after its orchestrator stopped mid-way, never repeating a recorded step", async () => {
    const busOptions = { url: env.AMQP_URL ?? "memory:", namespace: env.BUS_NAMESPACE! };
    // Held by the test, so that the memory store and bus outlive the first broker.
    const store = acquireEventStore(env.EVENT_STORE_URL!);
    acquireMessageBus(busOptions);
    try {
      let fraudChecks = 0;
      const countChecks = { hooks: { before: { check: () => void (fraudChecks += 1) } } };
      // No payments service: the saga records the fraud check, then its message is retried.
      const first = await start(["orders", "relay", "orchestrator", "antifraud"], { antifraud: countChecks });
      const order = await first.broker.call<{ id: string }, object>("orders.create", placement("alice"));
      await waitFor(async () => (await sagaSteps(store, order.id)).includes("SagaStepSucceeded:checkFraud"), {
        what: "the fraud check to be recorded",
      });
      await first.stop();
      apps.splice(apps.indexOf(first), 1);
      expect(await sagaSteps(store, order.id)).toEqual(["SagaStarted", "SagaStepSucceeded:checkFraud"]);

      const second = await start(["orders", "orchestrator", "antifraud", "payments"], { antifraud: countChecks });
      const steps = await waitFor(() => sagaEnded(second.store, order.id), { what: "the resumed saga to end" });

      expect(steps).toEqual(CONFIRMED);
      expect(fraudChecks).toBe(1);
    } finally {
      await releaseMessageBus(busOptions);
      await releaseEventStore(env.EVENT_STORE_URL!);
    }
  });

  describe("versioned definitions: a saga runs the definition it started with", () => {
    const busOptions = () => ({ url: env.AMQP_URL ?? "memory:", namespace: env.BUS_NAMESPACE! });
    let store: EventStore;
    // Held by the test, so that the memory store and bus outlive the first broker.
    beforeEach(() => {
      store = acquireEventStore(env.EVENT_STORE_URL!);
      acquireMessageBus(busOptions());
    });
    afterEach(async () => {
      await releaseMessageBus(busOptions());
      await releaseEventStore(env.EVENT_STORE_URL!);
    });

    /** Starts a saga on an orchestrator of `definition` with no payments (it records the fraud check and waits), then stops it. */
    async function sagaStartedBy(definition: string): Promise<string> {
      const first = await start(["orders", "relay", "orchestrator", "antifraud"], {}, { SAGA_DEFINITION: definition });
      const order = await first.broker.call<{ id: string }, object>("orders.create", placement("alice"));
      await waitFor(async () => (await sagaSteps(store, order.id)).includes("SagaStepSucceeded:checkFraud"), { what: "the fraud check to be recorded" });
      await first.stop();
      apps.splice(apps.indexOf(first), 1);
      return order.id;
    }

    it("a v2 orchestrator finishes a saga started as v1 by v1's rules: confirmed, no capture", async () => {
      const orderId = await sagaStartedBy("1");
      expect((await store.read(`saga-${orderId}`))[0]!.data).toMatchObject({ definition: 1 });

      const second = await start(["orders", "orchestrator", "antifraud", "payments"], {}, { SAGA_DEFINITION: "2" });
      const steps = await waitFor(() => sagaEnded(second.store, orderId), { what: "the v1 saga to end" });

      expect(steps).toEqual(CONFIRMED_V1);
      expect(await typesOf(store, `payment-${orderId}`)).toEqual(["PaymentAuthorized"]);
      await expect(second.broker.call("orchestrator.get", { orderId })).resolves.toMatchObject({ definition: 1, outcome: "confirmed" });
    });

    it("a v1-only orchestrator refuses a v2 saga: nothing recorded, its message dead-lettered with SAGA_DEFINITION_UNKNOWN", async () => {
      const orderId = await sagaStartedBy("2");

      const second = await start(["orders", "orchestrator", "antifraud", "payments", "dlq"], {}, { SAGA_DEFINITION: "1", BUS_RETRY_ATTEMPTS: "2" });
      const deadLettered = await waitFor(
        async () => (await globalLog(store)).find((event) => event.type === "MessageDeadLettered" && event.data.topic === "OrderCreated"),
        { what: "the refused message to be dead-lettered" },
      );

      expect(deadLettered.data.error).toMatchObject({
        name: "SagaDefinitionUnknown",
        message: `SAGA_DEFINITION_UNKNOWN: saga of order ${orderId} runs definition v2; this orchestrator knows v1`,
      });
      expect(await sagaSteps(store, orderId)).toEqual(["SagaStarted", "SagaStepSucceeded:checkFraud"]);
      expect(await typesOf(store, `payment-${orderId}`)).toEqual([]);
      await expect(second.broker.call("orchestrator.get", { orderId })).resolves.toMatchObject({ definition: 2, status: "running", step: "authorizePayment" });
    });
  });

  it("waits for a participant the orchestrator has not discovered yet, instead of spending the message's attempts", async () => {
    // One delivery: a call refused at once for want of payments would dead-letter the saga.
    Object.assign(env, { BUS_RETRY_ATTEMPTS: "1" });
    const app = await start(["orders", "relay", "orchestrator", "antifraud"]);
    const order = await app.broker.call<{ id: string }, object>("orders.create", placement("alice"));
    await waitFor(async () => (await sagaSteps(app.store, order.id)).includes("SagaStepSucceeded:checkFraud"), { what: "the fraud check to be recorded" });

    // Payments starts on this node while the call waits for it, as a participant's node joins late.
    app.broker.createService(serviceFactories.payments(app.config));
    const steps = await waitFor(() => sagaEnded(app.store, order.id), { what: "the saga to end" });

    expect(steps).toEqual(CONFIRMED);
    expect(await app.store.read(`order-${order.id}`).then((events) => events.map((event) => event.type))).toEqual(["OrderCreated", "OrderConfirmed"]);
  });

  it("lets two orchestrators on one queue share the work without recording any step twice", async () => {
    const one = await start(ALL);
    const two = await start(["orchestrator", "antifraud", "payments", "orders"]);
    const ids: string[] = [];
    for (let index = 0; index < 40; index += 1) {
      ids.push((await one.broker.call<{ id: string }, object>("orders.create", placement(`c-${index}`))).id);
    }

    const handledBy = new Set<unknown>();
    for (const id of ids) {
      const steps = await waitFor(() => sagaEnded(one.store, id), { what: `the saga of ${id} to end` });
      expect(steps).toEqual(CONFIRMED);
      handledBy.add((await one.store.read(`saga-${id}`))[0]!.metadata.handledBy);
    }
    expect(handledBy).toEqual(new Set([one.broker.nodeID, two.broker.nodeID]));
  });

  describe("deadlines and operators' actions", () => {
    let held: ReturnType<typeof heldAuthorizations> | undefined;
    afterEach(() => held?.release());

    it("times out a saga whose step waits past its timeout: the order is rejected STEP_TIMED_OUT, the payment voided, the saga ends timed-out", async () => {
      const clock = movableClock();
      held = heldAuthorizations();
      const app = await startWithClock(clock, DEFAULT_LIMITS, { payments: held.mod });
      const order = await app.broker.call<{ id: string }, object>("orders.create", placement("alice"));
      await held.arrived;

      // Six minutes on: the payment's step has waited past its five.
      clock.offsetMs = 6 * 60_000;
      const steps = await waitFor(() => sagaEnded(app.store, order.id), { what: "the saga to time out and end" });

      expect(steps).toEqual([
        "SagaStarted",
        "SagaStepSucceeded:checkFraud",
        "SagaTimedOut:authorizePayment",
        "SagaStepSucceeded:rejectOrder",
        "SagaStepCompensated:authorizePayment",
        "SagaEnded:timed-out",
      ]);
      const saga = await app.store.read(`saga-${order.id}`);
      expect(saga[2]!.data).toMatchObject({ step: "authorizePayment", reason: "STEP_TIMED_OUT" });
      expect(saga[5]!.data).toMatchObject({ outcome: "timed-out", reason: "STEP_TIMED_OUT" });
      await expect(app.broker.call("orders.get", { id: order.id })).resolves.toMatchObject({ status: "rejected", reason: "STEP_TIMED_OUT" });
      expect(await typesOf(app.store, `payment-${order.id}`)).toEqual(["PaymentVoided"]);

      // The authorisation that was held arrives after the void, which bars it: nothing is held.
      held.release();
      await waitFor(async () => (await sagaSteps(app.store, order.id)).includes("SagaStepSucceeded:authorizePayment"), {
        what: "the late authorisation to be recorded",
      });
      expect(await typesOf(app.store, `payment-${order.id}`)).toEqual(["PaymentVoided"]);
      expect(await sagaSteps(app.store, order.id)).toHaveLength(7);
    });

    it("the deadline passes while the order's confirmation is in flight: the confirmation wins, the saga ends confirmed, nothing is voided", async () => {
      const clock = movableClock();
      // The order is confirmed, but the answer reaches the saga only once the test lets it.
      let answered!: () => void;
      const confirmedInFlight = new Promise<void>((resolve) => (answered = resolve));
      let deliver!: () => void;
      const delivered = new Promise<void>((resolve) => (deliver = resolve));
      const holdAnswer = {
        hooks: {
          after: {
            async confirm(_ctx: unknown, answer: unknown) {
              answered();
              await delivered;
              return answer;
            },
          },
        },
      };
      const app = await startWithClock(clock, DEFAULT_LIMITS, { orders: holdAnswer });
      try {
        const order = await app.broker.call<{ id: string }, object>("orders.create", placement("alice"));
        await confirmedInFlight;

        clock.offsetMs = 11 * 60_000;
        const steps = await waitFor(() => sagaEnded(app.store, order.id), { what: "the saga to end" });

        expect(steps).toEqual([
          "SagaStarted",
          "SagaStepSucceeded:checkFraud",
          "SagaStepSucceeded:authorizePayment",
          "SagaTimedOut:confirmOrder",
          "SagaStepSucceeded:confirmOrder",
          "SagaStepSucceeded:capturePayment",
          "SagaEnded:confirmed",
        ]);
        expect((await app.store.read(`saga-${order.id}`))[3]!.data).toMatchObject({ reason: "DEADLINE_EXCEEDED" });
        expect(await typesOf(app.store, `order-${order.id}`)).toEqual(["OrderCreated", "OrderConfirmed"]);
        expect(await typesOf(app.store, `payment-${order.id}`)).toEqual(["PaymentAuthorized", "PaymentCaptured"]);
      } finally {
        deliver();
      }
    });

    it("lists sagas newest first with what each waits on; olderThan keeps those started longer ago; filters are checked", async () => {
      const clock = movableClock();
      held = heldAuthorizations((customerId) => customerId.startsWith("slow"));
      const app = await startWithClock(clock, { deadlineMs: 0, stepTimeoutMs: 0 }, { payments: held.mod });
      const waitingForPayment = async (id: string) =>
        waitFor(async () => (await sagaSteps(app.store, id)).includes("SagaStepSucceeded:checkFraud"), { what: `saga ${id} to ask for payment` });
      const confirmed = await app.broker.call<{ id: string }, object>("orders.create", placement("bob"));
      await waitFor(() => sagaEnded(app.store, confirmed.id), { what: "the first saga to end" });
      const older = await app.broker.call<{ id: string }, object>("orders.create", placement("slow-1"));
      await waitingForPayment(older.id);
      clock.offsetMs = 60 * 60_000;
      const newer = await app.broker.call<{ id: string }, object>("orders.create", placement("slow-2"));
      await waitingForPayment(newer.id);

      const waiting = {
        status: "running",
        outcome: null,
        reason: null,
        step: "authorizePayment",
        why: "waiting for payments.authorize",
        deadline: null,
        endedAt: null,
      };
      const running = await http(app, "GET", "/sagas?status=running");
      expect(running).toMatchObject({
        status: 200,
        body: {
          items: [
            { orderId: newer.id, ...waiting },
            { orderId: older.id, ...waiting },
          ],
          nextCursor: null,
        },
      });
      expect(await http(app, "GET", "/sagas?status=running&olderThan=30m")).toMatchObject({
        status: 200,
        body: { items: [{ orderId: older.id }], nextCursor: null },
      });
      const oldOnes = await http(app, "GET", "/sagas?olderThan=1800000");
      expect(oldOnes.body.items.map((saga: { orderId: string }) => saga.orderId)).toEqual([older.id, confirmed.id]);
      expect(await http(app, "GET", "/sagas?status=ended&outcome=confirmed")).toMatchObject({
        status: 200,
        body: { items: [{ orderId: confirmed.id, status: "ended", outcome: "confirmed", step: "capturePayment", why: "confirmed" }], nextCursor: null },
      });

      const first = await http(app, "GET", "/sagas?limit=2");
      expect(first.body.items.map((saga: { orderId: string }) => saga.orderId)).toEqual([newer.id, older.id]);
      const rest = await http(app, "GET", `/sagas?limit=2&cursor=${first.body.nextCursor}`);
      expect(rest.body).toMatchObject({ items: [{ orderId: confirmed.id }], nextCursor: null });

      for (const query of ["olderThan=soon", "olderThan=-5m", "status=stuck", "outcome=lost", "limit=0", "cursor=not-ours"]) {
        expect(await http(app, "GET", `/sagas?${query}`)).toMatchObject({ status: 422, body: { type: "VALIDATION_ERROR" } });
      }
      expect(await http(app, "GET", `/sagas/${older.id}`)).toMatchObject({ status: 200, body: { orderId: older.id, ...waiting } });
      // The list is a read model like the others: its projection is reported and rebuilt by the same routes.
      expect(await http(app, "GET", "/projections/sagas")).toMatchObject({ status: 200, body: { name: "sagas", status: "idle", rows: 3 } });
      expect(await http(app, "POST", "/projections/sagas/rebuild")).toMatchObject({ status: 401, body: { type: "UNAUTHORIZED" } });
    });

    it("an operator retries a saga whose message was dead-lettered: recorded with who and why, it goes on to confirm; 409 once ended", async () => {
      Object.assign(env, { PAYMENTS_CHAOS_FAILURE_RATE: "1", RETRY_RETRIES: "0", BUS_RETRY_ATTEMPTS: "1" });
      let failedAuthorizations = 0;
      const countFailures = {
        hooks: {
          error: {
            authorize(_ctx: unknown, error: Error) {
              failedAuthorizations += 1;
              throw error;
            },
          },
        },
      };
      const app = await startWithClock(movableClock(), DEFAULT_LIMITS, { payments: countFailures });
      const order = await app.broker.call<{ id: string }, object>("orders.create", placement("alice"));
      // One attempt, payments failing: the message dies after its one call, the saga stays where it stood.
      await waitFor(() => failedAuthorizations === 1, { what: "the payment's one attempt to fail" });
      const stuck = await http(app, "GET", "/sagas?status=running");
      expect(stuck.body.items).toHaveLength(1);
      expect(stuck.body.items[0]).toMatchObject({ orderId: order.id, step: "authorizePayment", why: "waiting for payments.authorize" });
      await app.broker.broadcast(CHAOS_CONFIGURED, {
        service: "payments",
        settings: { failureRate: 0, latencyMs: 0, mode: "error" },
      } satisfies ChaosConfigured);

      expect(await http(app, "POST", `/sagas/${order.id}/retry`, { reason: "payments is back" })).toMatchObject({ status: 401 });
      expect(await http(app, "POST", `/sagas/${order.id}/retry`, {}, ALICE)).toMatchObject({ status: 422, body: { type: "VALIDATION_ERROR" } });
      expect(await http(app, "POST", `/sagas/${order.id}/retry`, { reason: "x", force: true }, ALICE)).toMatchObject({ status: 422 });
      expect(await sagaSteps(app.store, order.id)).toEqual(["SagaStarted", "SagaStepSucceeded:checkFraud"]);
      const retried = await http(app, "POST", `/sagas/${order.id}/retry`, { reason: "payments is back" }, ALICE);
      expect(retried).toMatchObject({ status: 202, body: { orderId: order.id, status: "running", step: "authorizePayment" } });
      const steps = await waitFor(() => sagaEnded(app.store, order.id), { what: "the retried saga to end" });

      expect(steps).toEqual([
        "SagaStarted",
        "SagaStepSucceeded:checkFraud",
        "SagaRetryRequested:authorizePayment",
        "SagaStepSucceeded:authorizePayment",
        "SagaStepSucceeded:confirmOrder",
        "SagaStepSucceeded:capturePayment",
        "SagaEnded:confirmed",
      ]);
      const retry = (await app.store.read(`saga-${order.id}`))[2]!;
      expect(retry.data).toMatchObject({ by: "alice", reason: "payments is back", step: "authorizePayment" });
      expect(retry.metadata.actor).toBe("alice");
      expect(await http(app, "POST", `/sagas/${order.id}/retry`, { reason: "again" }, ALICE)).toMatchObject({
        status: 409,
        body: { type: "SAGA_ENDED", data: { outcome: "confirmed" } },
      });
      expect(await http(app, "POST", `/sagas/${randomUUID()}/retry`, { reason: "which?" }, ALICE)).toMatchObject({
        status: 404,
        body: { type: "SAGA_NOT_FOUND" },
      });
      expect(await sagaSteps(app.store, order.id)).toHaveLength(7);
    });

    it("an operator cancels a running saga: the order is rejected CANCELLED_BY_OPERATOR, the payment voided, it ends cancelled; 409 once ended", async () => {
      held = heldAuthorizations();
      const app = await startWithClock(movableClock(), DEFAULT_LIMITS, { payments: held.mod });
      const order = await app.broker.call<{ id: string }, object>("orders.create", placement("alice"));
      await held.arrived;

      const cancelled = await http(app, "POST", `/sagas/${order.id}/cancel`, { reason: "customer called" }, ALICE);
      expect(cancelled).toMatchObject({ status: 202, body: { orderId: order.id, status: "running", step: "rejectOrder" } });
      expect(cancelled.body.why).toMatch(/^cancelled: CANCELLED_BY_OPERATOR; /);
      const steps = await waitFor(() => sagaEnded(app.store, order.id), { what: "the cancelled saga to end" });

      expect(steps).toEqual([
        "SagaStarted",
        "SagaStepSucceeded:checkFraud",
        "SagaCancelledByOperator:authorizePayment",
        "SagaStepSucceeded:rejectOrder",
        "SagaStepCompensated:authorizePayment",
        "SagaEnded:cancelled",
      ]);
      const saga = await app.store.read(`saga-${order.id}`);
      expect(saga[2]!.data).toMatchObject({ by: "alice", reason: "customer called" });
      expect(saga[5]!.data).toMatchObject({ outcome: "cancelled", reason: "CANCELLED_BY_OPERATOR" });
      await expect(app.broker.call("orders.get", { id: order.id })).resolves.toMatchObject({ status: "rejected", reason: "CANCELLED_BY_OPERATOR" });
      expect(await typesOf(app.store, `payment-${order.id}`)).toEqual(["PaymentVoided"]);
      expect(await http(app, "POST", `/sagas/${order.id}/cancel`, { reason: "again" }, ALICE)).toMatchObject({ status: 409, body: { type: "SAGA_ENDED" } });
      expect(await http(app, "GET", `/sagas/${order.id}`)).toMatchObject({
        status: 200,
        body: { status: "ended", outcome: "cancelled", why: "cancelled: CANCELLED_BY_OPERATOR" },
      });
    });
  });
});

import { randomUUID } from "node:crypto";
import { ServiceSchema } from "moleculer";
import { EventStore, acquireEventStore, releaseEventStore } from "../../adapters/event-store";
import { acquireMessageBus, releaseMessageBus } from "../../adapters/bus";
import { CHAOS_CONFIGURED, ChaosConfigured } from "../../mixins/chaos.mixin";
import { ServiceName } from "../../services";
import { busFixtures } from "../support/buses";
import { EmbeddedApp, startEmbeddedApp, typesOf } from "../support/embedded-app";
import { waitFor } from "../../tools/wait-for";

const placement = (customerId: string, unitPrice = 1250) => ({
  customerId,
  currency: "EUR",
  items: [{ productId: "book", quantity: 2, unitPrice }],
});

/** The steps of a saga that confirmed its order, each once and in order. */
const CONFIRMED = [
  "SagaStarted",
  "SagaStepSucceeded:checkFraud",
  "SagaStepSucceeded:authorizePayment",
  "SagaStepSucceeded:confirmOrder",
  "SagaEnded:confirmed",
];

const ALL: ServiceName[] = ["orders", "relay", "orchestrator", "antifraud", "payments"];

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

  async function start(services: ServiceName[] = ALL, mods: Partial<Record<ServiceName, Partial<ServiceSchema>>> = {}) {
    const app = await startEmbeddedApp({ env, services, mods });
    apps.push(app);
    return app;
  }

  it("confirms an order: fraud check, payment, confirmation, each recorded once and in order", async () => {
    const app = await start();
    const order = await app.broker.call<{ id: string }, object>("orders.create", placement("alice"));

    const steps = await waitFor(() => sagaEnded(app.store, order.id), { what: "the saga to end" });

    expect(steps).toEqual(CONFIRMED);
    expect(await typesOf(app.store, `order-${order.id}`)).toEqual(["OrderCreated", "OrderConfirmed"]);
    expect(await typesOf(app.store, `payment-${order.id}`)).toEqual(["PaymentAuthorized"]);
    await expect(app.broker.call("orchestrator.get", { orderId: order.id })).resolves.toMatchObject({
      orderId: order.id,
      status: "ended",
      outcome: "confirmed",
      reason: null,
      timeline: [
        { event: "SagaStarted", customerId: "alice", amount: 2500, currency: "EUR" },
        { event: "SagaStepSucceeded", step: "checkFraud" },
        { event: "SagaStepSucceeded", step: "authorizePayment" },
        { event: "SagaStepSucceeded", step: "confirmOrder" },
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
});

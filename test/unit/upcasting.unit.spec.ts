import * as saga from "../../domain/order-saga";
import { SagaCommand, SagaEvent } from "../../domain/order-saga";
import { EVENT_UPCASTERS, EventPayload, UnknownSchemaVersion, UpcasterRegistry } from "../../domain/upcasting";
import { specify } from "../support/decider-spec";

const orderId = "3c8e5a10-6b2d-4f7a-9c1e-5d4b3a2f1e0d";
const order = { orderId, customerId: "c-1", amount: 3097, currency: "EUR" };
const t0 = "2026-12-06T08:00:00.000Z";

/** A type of three versions: `total` became `amount` (v2), then gained a `currency` (v3). */
const registry = new UpcasterRegistry({
  PaymentTaken: [({ total, ...rest }) => ({ ...rest, amount: total }), (v2) => ({ ...v2, currency: "EUR" })],
});

function thrownBy(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  return undefined;
}

describe("the upcaster registry", () => {
  it("gives each type's current version: one more than its upcasters, 1 for a type without any", () => {
    expect(registry.currentVersion("PaymentTaken")).toBe(3);
    expect(registry.currentVersion("OrderCreated")).toBe(1);
    expect(registry.currentVersion("constructor")).toBe(1);
  });

  it("lifts old data one version at a time, in order, up to the current one", () => {
    expect(registry.upcast("PaymentTaken", 1, { orderId, total: 100 })).toEqual({ orderId, amount: 100, currency: "EUR" });
    expect(registry.upcast("PaymentTaken", 2, { orderId, amount: 100 })).toEqual({ orderId, amount: 100, currency: "EUR" });
  });

  it("hands current data back as it is, and leaves old data as it was: upcasters are pure", () => {
    const current: EventPayload = Object.freeze({ orderId, amount: 100, currency: "EUR" });
    const old: EventPayload = Object.freeze({ orderId, total: 100 });

    expect(registry.upcast("PaymentTaken", 3, current)).toBe(current);
    registry.upcast("PaymentTaken", 1, old);
    expect(old).toEqual({ orderId, total: 100 });
  });

  it.each([4, 0, -1, 1.5, Number.NaN])("refuses version %p, which it cannot read, naming the type and what it reads", (version) => {
    const error = thrownBy(() => registry.upcast("PaymentTaken", version, {}));

    expect(error).toBeInstanceOf(UnknownSchemaVersion);
    expect(error).toMatchObject({
      type: "PaymentTaken",
      version,
      currentVersion: 3,
      message: `PaymentTaken at schema version ${JSON.stringify(version)}: this code reads versions 1 to 3 of it`,
    });
  });

  it("refuses a version above 1 for a type that never changed", () => {
    expect(thrownBy(() => registry.upcast("OrderCreated", 2, {}))).toMatchObject({ type: "OrderCreated", version: 2, currentVersion: 1 });
  });
});

describe("the domain's upcasters", () => {
  it("has SagaStarted at version 3 and every other type at version 1", () => {
    expect(EVENT_UPCASTERS.currentVersion("SagaStarted")).toBe(3);
    for (const type of ["OrderCreated", "SagaStepSucceeded", "SagaEnded", "PaymentAuthorized", "DeadLetterReplayClaimed", "DlqJobStarted", "$Checkpoint"]) {
      expect(EVENT_UPCASTERS.currentVersion(type)).toBe(1);
    }
  });

  describe("SagaStarted v1 → v2", () => {
    const v1 = { ...order, at: t0 };
    /** The same saga as version 2 says it: no deadline, no step timeout. */
    const startedV2: SagaEvent = { type: "SagaStarted", data: { ...order, at: t0, deadline: null, stepTimeoutMs: null, definition: 1 } };
    const spec = specify(saga);
    const expire: SagaCommand = { type: "ExpireSaga", data: { orderId }, metadata: { now: "2027-12-06T08:00:00.000Z" } };

    it("gives a saga started before its limits were recorded a null deadline and step timeout", () => {
      expect(EVENT_UPCASTERS.upcast("SagaStarted", 1, v1)).toEqual(startedV2.data);
      expect(saga.sagaStartedV2(v1)).toEqual({ ...order, at: t0, deadline: null, stepTimeoutMs: null });
    });

    it("given such a saga, it has no due time, and a year later ExpireSaga decides nothing", () => {
      expect(saga.dueOf([startedV2].reduce(saga.evolve, saga.initialState()))).toBeNull();
      spec.given([startedV2]).when(expire).then([]);
    });
  });

  describe("SagaStarted v2 → v3", () => {
    const withLimits = { ...order, at: t0, deadline: "2026-12-06T08:10:00.000Z", stepTimeoutMs: 300_000 };

    it("pins the first definition on a saga started before definitions were versioned: it ran v1", () => {
      expect(EVENT_UPCASTERS.upcast("SagaStarted", 2, withLimits)).toEqual({ ...withLimits, definition: 1 });
      expect(saga.sagaStartedV3(withLimits)).toEqual({ ...withLimits, definition: 1 });
    });

    it("leaves a version 3 SagaStarted as written", () => {
      const pinned = { ...withLimits, definition: 2 };
      expect(EVENT_UPCASTERS.upcast("SagaStarted", 3, pinned)).toBe(pinned);
    });
  });
});

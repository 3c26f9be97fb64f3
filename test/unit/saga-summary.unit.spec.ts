import * as saga from "../../domain/order-saga";
import { OrderSaga, SagaEvent } from "../../domain/order-saga";
import { durationMs, isStarted, summaryOf } from "../../services/orchestrator/saga-summary";
import { SAGAS_VIEW } from "../../adapters/read-model/sagas-view";
import { EVENT_UPCASTERS } from "../../domain/upcasting";

const orderId = "5e0c2f7a-3b1d-4e6f-8a9b-0c1d2e3f4a5b";
const at = "2026-12-06T08:00:00.000Z";
const started: SagaEvent = {
  type: "SagaStarted",
  data: { orderId, customerId: "c-1", amount: 100, currency: "EUR", at, deadline: "2026-12-06T08:10:00.000Z", stepTimeoutMs: 300_000, definition: 1 },
};
const checked: SagaEvent = { type: "SagaStepSucceeded", data: { orderId, step: "checkFraud", at } };

function summary(events: SagaEvent[]) {
  const state: OrderSaga = events.reduce(saga.evolve, saga.initialState());
  if (!isStarted(state)) throw new Error("not started");
  return summaryOf(state);
}

describe("saga summaries (GET /api/sagas)", () => {
  it.each<[string, SagaEvent[], { step: string | null; why: string }]>([
    ["waiting on a participant", [started, checked], { step: "authorizePayment", why: "waiting for payments.authorize" }],
    [
      "timed out, rejecting its order",
      [started, checked, { type: "SagaTimedOut", data: { orderId, step: "authorizePayment", reason: "DEADLINE_EXCEEDED", dueAt: at, at } }],
      { step: "rejectOrder", why: "timed out: DEADLINE_EXCEEDED; waiting for orders.reject" },
    ],
    [
      "cancelled by its customer, compensating",
      [started, checked, { type: "SagaCancellationRequested", data: { orderId, at } }],
      { step: "authorizePayment", why: "order cancelled; compensating voidPayment" },
    ],
    [
      "refused, rejecting its order",
      [started, checked, { type: "SagaStepFailed", data: { orderId, step: "authorizePayment", reason: "PAYMENT_DECLINED", detail: "AMOUNT_ABOVE_LIMIT", at } }],
      { step: "rejectOrder", why: "refused: PAYMENT_DECLINED; waiting for orders.reject" },
    ],
    [
      "ended timed out",
      [
        started,
        checked,
        { type: "SagaTimedOut", data: { orderId, step: "authorizePayment", reason: "STEP_TIMED_OUT", dueAt: at, at } },
        { type: "SagaStepSucceeded", data: { orderId, step: "rejectOrder", at } },
        { type: "SagaStepCompensated", data: { orderId, step: "authorizePayment", compensation: "voidPayment", at } },
        { type: "SagaEnded", data: { orderId, outcome: "timed-out", reason: "STEP_TIMED_OUT", at } },
      ],
      { step: "authorizePayment", why: "timed out: STEP_TIMED_OUT" },
    ],
  ])("%s", (_name, events, expected) => {
    expect(summary(events)).toMatchObject(expected);
  });

  it("shows the deadline the saga recorded, none for a saga started before deadlines were recorded", () => {
    expect(summary([started, checked])).toEqual({
      orderId,
      status: "running",
      outcome: null,
      reason: null,
      step: "authorizePayment",
      why: "waiting for payments.authorize",
      startedAt: at,
      definition: 1,
      deadline: "2026-12-06T08:10:00.000Z",
      endedAt: null,
    });
    // Its SagaStarted (version 1) as the store hands it on, lifted to version 3 (domain/upcasting.ts).
    const v1 = { orderId, customerId: "c-1", amount: 100, currency: "EUR", at };
    const before: SagaEvent = { type: "SagaStarted", data: { ...v1, deadline: null, stepTimeoutMs: null, definition: 1 } };
    expect(EVENT_UPCASTERS.upcast("SagaStarted", 1, v1)).toEqual(before.data);
    expect(summary([before]).deadline).toBeNull();
  });

  it("the view lists a saga by status and outcome, not before it started", () => {
    const state = (events: SagaEvent[]) => events.reduce(saga.evolve, SAGAS_VIEW.initialState());
    const cancelledEarly = state([{ type: "SagaCancellationRequested", data: { orderId, at } }]);
    expect(SAGAS_VIEW.exists(cancelledEarly)).toBe(false);
    expect(SAGAS_VIEW.columnsOf(state([started]))).toEqual({ status: "running", outcome: null });
    expect(SAGAS_VIEW.columnsOf(state([started, { type: "SagaEnded", data: { orderId, outcome: "timed-out", reason: "DEADLINE_EXCEEDED", at } }]))).toEqual({
      status: "ended",
      outcome: "timed-out",
    });
  });
});

describe("durations of olderThan", () => {
  it.each([
    ["1500", 1500],
    ["30s", 30_000],
    ["5m", 300_000],
    ["2h", 7_200_000],
    ["1d", 86_400_000],
  ])("%s is %d ms", (text, ms) => {
    expect(durationMs(text)).toBe(ms);
  });
});

import * as saga from "../../domain/order-saga";
import { OrderSaga, SagaCommand, SagaEvent, SagaStep, StepResult } from "../../domain/order-saga";
import { specify } from "../support/decider-spec";

const at = "2026-11-29T10:00:00.000Z";
const orderId = "7d1b9a52-5c0e-4f51-8d5e-2b3f4a6c7e81";
const order = { orderId, customerId: "c-1", amount: 3097, currency: "EUR" };
const spec = specify(saga);
const metadata = { now: at };

/** Limits off: the workflow alone, as before sagas had deadlines. */
const start: SagaCommand = { type: "StartSaga", data: { ...order, limits: { deadlineMs: 0, stepTimeoutMs: 0 }, definition: 1 }, metadata };
const requestCancellation: SagaCommand = { type: "RequestCancellation", data: { orderId }, metadata };
const result = (step: SagaStep, stepResult: StepResult): SagaCommand => ({
  type: "RecordStepResult",
  data: { orderId, step, result: stepResult },
  metadata,
});
const compensation = (step: SagaStep): SagaCommand => ({ type: "RecordCompensation", data: { orderId, step }, metadata });

const started: SagaEvent = { type: "SagaStarted", data: { ...order, at, deadline: null, stepTimeoutMs: null, definition: 1 } };
const succeeded = (step: SagaStep): SagaEvent => ({ type: "SagaStepSucceeded", data: { orderId, step, at } });
const cancellationRequested: SagaEvent = { type: "SagaCancellationRequested", data: { orderId, at } };
const compensated: SagaEvent = { type: "SagaStepCompensated", data: { orderId, step: "authorizePayment", compensation: "voidPayment", at } };
const ended = (outcome: saga.SagaOutcome, reason: string | null): SagaEvent => ({ type: "SagaEnded", data: { orderId, outcome, reason, at } });
const ok: StepResult = { kind: "succeeded" };

function stateAfter(events: SagaEvent[]): OrderSaga {
  return events.reduce(saga.evolve, saga.initialState());
}
const next = (events: SagaEvent[]) => saga.nextAction(stateAfter(events));

describe("order saga workflow", () => {
  describe("confirmed: checkFraud → authorizePayment → confirmOrder", () => {
    it("starts once and asks for the fraud check", () => {
      spec.given([]).when(start).then([started]);
      expect(next([started])).toEqual({ type: "CheckFraud", order });
    });

    it("records each step before asking for the next", () => {
      spec
        .given([started])
        .when(result("checkFraud", ok))
        .then([succeeded("checkFraud")]);
      expect(next([started, succeeded("checkFraud")])).toEqual({ type: "AuthorizePayment", order });
      spec
        .given([started, succeeded("checkFraud")])
        .when(result("authorizePayment", ok))
        .then([succeeded("authorizePayment")]);
      expect(next([started, succeeded("checkFraud"), succeeded("authorizePayment")])).toEqual({ type: "ConfirmOrder", orderId });
    });

    it("ends confirmed in the same append as the confirmation, then has nothing more to do", () => {
      const history = [started, succeeded("checkFraud"), succeeded("authorizePayment")];
      spec
        .given(history)
        .when(result("confirmOrder", ok))
        .then([succeeded("confirmOrder"), ended("confirmed", null)]);
      expect(next([...history, succeeded("confirmOrder"), ended("confirmed", null)])).toBeNull();
    });
  });

  describe("rejected", () => {
    it("fraud refused → the order is rejected FRAUD_REJECTED, nothing to compensate", () => {
      const failed: SagaEvent = {
        type: "SagaStepFailed",
        data: { orderId, step: "checkFraud", reason: "FRAUD_REJECTED", detail: "TOTAL_ABOVE_LIMIT", at },
      };
      spec
        .given([started])
        .when(result("checkFraud", { kind: "refused", detail: "TOTAL_ABOVE_LIMIT" }))
        .then([failed]);
      expect(next([started, failed])).toEqual({ type: "RejectOrder", orderId, reason: "FRAUD_REJECTED" });
      spec
        .given([started, failed])
        .when(result("rejectOrder", ok))
        .then([succeeded("rejectOrder"), ended("rejected", "FRAUD_REJECTED")]);
    });

    it("payment declined → the order is rejected PAYMENT_DECLINED", () => {
      const history = [started, succeeded("checkFraud")];
      const failed: SagaEvent = {
        type: "SagaStepFailed",
        data: { orderId, step: "authorizePayment", reason: "PAYMENT_DECLINED", detail: "AMOUNT_ABOVE_LIMIT", at },
      };
      spec
        .given(history)
        .when(result("authorizePayment", { kind: "refused", detail: "AMOUNT_ABOVE_LIMIT" }))
        .then([failed]);
      expect(next([...history, failed])).toEqual({ type: "RejectOrder", orderId, reason: "PAYMENT_DECLINED" });
      spec
        .given([...history, failed])
        .when(result("rejectOrder", ok))
        .then([succeeded("rejectOrder"), ended("rejected", "PAYMENT_DECLINED")]);
    });

    it("refuses to record a refusal of a step that cannot be refused", () => {
      spec
        .given([started, succeeded("checkFraud"), succeeded("authorizePayment")])
        .when(result("confirmOrder", { kind: "refused", detail: "?" }))
        .thenThrows("SAGA_STEP_CANNOT_FAIL");
    });
  });

  describe("cancelled", () => {
    const authorized = [started, succeeded("checkFraud"), succeeded("authorizePayment")];

    it("a cancellation after the payment voids it, in reverse, then ends cancelled", () => {
      spec.given(authorized).when(requestCancellation).then([cancellationRequested]);
      expect(next([...authorized, cancellationRequested])).toEqual({
        type: "Compensate",
        orderId,
        step: "authorizePayment",
        compensation: "voidPayment",
      });
      spec
        .given([...authorized, cancellationRequested])
        .when(compensation("authorizePayment"))
        .then([compensated, ended("cancelled", "ORDER_CANCELLED")]);
    });

    it("confirmOrder finding the order cancelled turns the saga into a cancellation", () => {
      spec
        .given(authorized)
        .when(result("confirmOrder", { kind: "orderCancelled" }))
        .then([cancellationRequested]);
      expect(next([...authorized, cancellationRequested])).toMatchObject({ type: "Compensate", compensation: "voidPayment" });
    });

    it("rejectOrder finding the order cancelled ends it cancelled", () => {
      const failed: SagaEvent = {
        type: "SagaStepFailed",
        data: { orderId, step: "checkFraud", reason: "FRAUD_REJECTED", detail: "CUSTOMER_BLOCKED", at },
      };
      spec
        .given([started, failed])
        .when(result("rejectOrder", { kind: "orderCancelled" }))
        .then([cancellationRequested, ended("cancelled", "ORDER_CANCELLED")]);
    });

    it("a cancellation that arrives before the creation is kept, and the saga ends as soon as it starts", () => {
      spec.given([]).when(requestCancellation).then([cancellationRequested]);
      spec
        .given([cancellationRequested])
        .when(start)
        .then([started, ended("cancelled", "ORDER_CANCELLED")]);
    });

    it("a cancellation after the order was confirmed changes nothing", () => {
      spec
        .given([...authorized, succeeded("confirmOrder")])
        .when(requestCancellation)
        .then([]);
    });

    it("a cancellation while the payment may be in flight voids it all the same (a timed-out call may have worked)", () => {
      const fraudChecked = [started, succeeded("checkFraud")];
      spec.given(fraudChecked).when(requestCancellation).then([cancellationRequested]);
      expect(next([...fraudChecked, cancellationRequested])).toMatchObject({ type: "Compensate", step: "authorizePayment", compensation: "voidPayment" });
      spec
        .given([...fraudChecked, cancellationRequested])
        .when(compensation("authorizePayment"))
        .then([compensated, ended("cancelled", "ORDER_CANCELLED")]);
    });

    it("a payment answer that arrives after the end is recorded, and needs no second void", () => {
      const endedCancelled = [started, succeeded("checkFraud"), cancellationRequested, compensated, ended("cancelled", "ORDER_CANCELLED")];
      spec
        .given(endedCancelled)
        .when(result("authorizePayment", ok))
        .then([succeeded("authorizePayment")]);
      expect(next([...endedCancelled, succeeded("authorizePayment")])).toBeNull();
    });

    it("a fraud refusal leaves no payment to void", () => {
      const failed: SagaEvent = { type: "SagaStepFailed", data: { orderId, step: "checkFraud", reason: "FRAUD_REJECTED", detail: "CUSTOMER_BLOCKED", at } };
      spec.given([started, failed]).when(compensation("authorizePayment")).then([]);
    });
  });

  describe("redelivered messages and repeated calls change nothing", () => {
    const history = [
      started,
      succeeded("checkFraud"),
      succeeded("authorizePayment"),
      cancellationRequested,
      compensated,
      ended("cancelled", "ORDER_CANCELLED"),
    ];
    it.each<[string, SagaEvent[], SagaCommand]>([
      ["a second start", [started], start],
      ["a recorded step again", [started, succeeded("checkFraud")], result("checkFraud", ok)],
      ["a second cancellation", [started, cancellationRequested], requestCancellation],
      ["a second compensation", history, compensation("authorizePayment")],
      ["a compensation of a step not done", [started], compensation("authorizePayment")],
      ["a late fraud check after the end", [started, cancellationRequested, ended("cancelled", "ORDER_CANCELLED")], result("checkFraud", ok)],
    ])("%s", (_name, given, command) => {
      spec.given(given).when(command).then([]);
    });

    it("a step result before the saga started is refused", () => {
      spec.given([]).when(result("checkFraud", ok)).thenThrows("SAGA_NOT_STARTED");
    });
  });
});

describe("versioned saga definitions", () => {
  const startAs = (definition: number): SagaCommand => ({
    type: "StartSaga",
    data: { ...order, limits: { deadlineMs: 0, stepTimeoutMs: 0 }, definition },
    metadata,
  });
  const startedAs = (definition: number): SagaEvent => ({ type: "SagaStarted", data: { ...order, at, deadline: null, stepTimeoutMs: null, definition } });
  const v2 = startedAs(2);
  const confirmedV2 = [v2, succeeded("checkFraud"), succeeded("authorizePayment"), succeeded("confirmOrder")];

  it("has v1 (fraud check, payment, confirmation) and v2 (then the payment's capture), v2 the latest", () => {
    expect(saga.SAGA_DEFINITIONS.map(({ version, steps }) => [version, steps])).toEqual([
      [1, ["checkFraud", "authorizePayment", "confirmOrder"]],
      [2, ["checkFraud", "authorizePayment", "confirmOrder", "capturePayment"]],
    ]);
    expect(saga.LATEST_SAGA_DEFINITION).toBe(2);
  });

  describe("pinning", () => {
    it.each([1, 2])("records the definition v%d it starts with in SagaStarted", (definition) => {
      spec
        .given([])
        .when(startAs(definition))
        .then([startedAs(definition)]);
    });

    it("refuses to start a saga on a definition the code does not have", () => {
      spec.given([]).when(startAs(3)).thenThrows("SAGA_DEFINITION_UNKNOWN", { definition: 3 });
    });

    it("a saga started as v1 ends confirmed after its confirmation, with no capture, whatever the code's latest", () => {
      const history = [startedAs(1), succeeded("checkFraud"), succeeded("authorizePayment")];
      spec
        .given(history)
        .when(result("confirmOrder", ok))
        .then([succeeded("confirmOrder"), ended("confirmed", null)]);
    });

    it("an orchestrator that knows v1 only refuses a v2 saga with a clear reason, and drives a v1 one", () => {
      expect(saga.definitionRefusal(stateAfter([v2]), 1)).toBe(`saga of order ${orderId} runs definition v2; this orchestrator knows v1`);
      expect(saga.definitionRefusal(stateAfter([startedAs(1)]), 1)).toBeNull();
      expect(saga.definitionRefusal(stateAfter([v2]), 2)).toBeNull();
      expect(saga.definitionRefusal(saga.initialState(), 1)).toBeNull();
    });

    it("a saga of a definition the code does not have is never run by other rules", () => {
      expect(() => next([startedAs(3)])).toThrow("saga of order 7d1b9a52-5c0e-4f51-8d5e-2b3f4a6c7e81 runs definition v3; this orchestrator knows v1 to v2");
    });
  });

  describe("v2: checkFraud → authorizePayment → confirmOrder → capturePayment", () => {
    it("asks for the capture once the order is confirmed, and ends confirmed in the same append as the capture", () => {
      spec
        .given([v2, succeeded("checkFraud"), succeeded("authorizePayment")])
        .when(result("confirmOrder", ok))
        .then([succeeded("confirmOrder")]);
      expect(next(confirmedV2)).toEqual({ type: "CapturePayment", orderId });
      spec
        .given(confirmedV2)
        .when(result("capturePayment", ok))
        .then([succeeded("capturePayment"), ended("confirmed", null)]);
      expect(next([...confirmedV2, succeeded("capturePayment"), ended("confirmed", null)])).toBeNull();
    });

    it("a capture recorded again changes nothing", () => {
      spec
        .given([...confirmedV2, succeeded("capturePayment"), ended("confirmed", null)])
        .when(result("capturePayment", ok))
        .then([]);
    });

    it("a capture cannot be refused: past the confirmation there is no way back", () => {
      spec
        .given(confirmedV2)
        .when(result("capturePayment", { kind: "refused", detail: "?" }))
        .thenThrows("SAGA_STEP_CANNOT_FAIL");
    });

    it("past the confirmation a cancellation changes nothing and nothing is voided", () => {
      spec.given(confirmedV2).when(requestCancellation).then([]);
      spec.given(confirmedV2).when(compensation("authorizePayment")).then([]);
    });

    it("an operator cannot cancel it past the confirmation (409): it finishes the capture", () => {
      const cancel: SagaCommand = { type: "CancelSaga", data: { orderId, by: "alice", reason: "customer called" }, metadata };
      spec.given(confirmedV2).when(cancel).thenThrows("SAGA_PAST_CONFIRMATION", { step: "capturePayment" });
    });

    it("before the confirmation it compensates as v1 does: a cancellation voids the payment", () => {
      const authorized = [v2, succeeded("checkFraud"), succeeded("authorizePayment")];
      spec.given(authorized).when(requestCancellation).then([cancellationRequested]);
      expect(next([...authorized, cancellationRequested])).toEqual({ type: "Compensate", orderId, step: "authorizePayment", compensation: "voidPayment" });
      spec
        .given([...authorized, cancellationRequested])
        .when(compensation("authorizePayment"))
        .then([compensated, ended("cancelled", "ORDER_CANCELLED")]);
    });
  });
});

import * as saga from "../../domain/order-saga";
import { OrderSaga, SagaCommand, SagaEvent, SagaStep, StepResult } from "../../domain/order-saga";
import { EVENT_UPCASTERS } from "../../domain/upcasting";
import { specify } from "../support/decider-spec";

/** Deadlines, step timeouts and operators' actions, each decided from the `now` its command carries. */

const orderId = "0b5c6f1e-2d3a-4c8b-9e7f-1a2b3c4d5e6f";
const order = { orderId, customerId: "c-1", amount: 3097, currency: "EUR" };
const spec = specify(saga);

const t0 = "2026-12-06T08:00:00.000Z";
/** `t0` plus `seconds`, as the ISO time a command carries. */
const at = (seconds: number) => new Date(Date.parse(t0) + seconds * 1000).toISOString();
const MINUTE = 60;

const limits = { deadlineMs: 10 * MINUTE * 1000, stepTimeoutMs: 5 * MINUTE * 1000 };
const start = (now: string, startLimits = limits): SagaCommand => ({
  type: "StartSaga",
  data: { ...order, limits: startLimits, definition: 1 },
  metadata: { now },
});
const expire = (now: string): SagaCommand => ({ type: "ExpireSaga", data: { orderId }, metadata: { now } });
const result = (step: SagaStep, stepResult: StepResult, now: string): SagaCommand => ({
  type: "RecordStepResult",
  data: { orderId, step, result: stepResult },
  metadata: { now },
});
const compensation = (step: SagaStep, now: string): SagaCommand => ({ type: "RecordCompensation", data: { orderId, step }, metadata: { now } });
const retry = (now: string): SagaCommand => ({ type: "RetrySaga", data: { orderId, by: "alice", reason: "payments is back" }, metadata: { now } });
const cancel = (now: string): SagaCommand => ({ type: "CancelSaga", data: { orderId, by: "alice", reason: "customer called" }, metadata: { now } });

const started: SagaEvent = { type: "SagaStarted", data: { ...order, at: t0, deadline: at(10 * MINUTE), stepTimeoutMs: 5 * MINUTE * 1000, definition: 1 } };
const succeeded = (step: SagaStep, when: string): SagaEvent => ({ type: "SagaStepSucceeded", data: { orderId, step, at: when } });
const timedOut = (step: SagaStep, reason: saga.TimeoutReason, dueAt: string, when: string): SagaEvent => ({
  type: "SagaTimedOut",
  data: { orderId, step, reason, dueAt, at: when },
});
const voided = (when: string): SagaEvent => ({
  type: "SagaStepCompensated",
  data: { orderId, step: "authorizePayment", compensation: "voidPayment", at: when },
});
const ended = (outcome: saga.SagaOutcome, reason: string | null, when: string): SagaEvent => ({
  type: "SagaEnded",
  data: { orderId, outcome, reason, at: when },
});
const ok: StepResult = { kind: "succeeded" };

const stateAfter = (events: SagaEvent[]): OrderSaga => events.reduce(saga.evolve, saga.initialState());

/** Fraud checked at 1 min, payment asked for since: it waits on authorizePayment. */
const waitingForPayment = [started, succeeded("checkFraud", at(MINUTE))];

describe("saga deadlines and step timeouts", () => {
  it("records its deadline and step timeout when it starts, so that a change of configuration never moves them", () => {
    spec.given([]).when(start(t0)).then([started]);
  });

  it("with a limit at 0, records none: it never times out for it", () => {
    const unlimited: SagaEvent = { type: "SagaStarted", data: { ...order, at: t0, deadline: null, stepTimeoutMs: null, definition: 1 } };
    spec
      .given([])
      .when(start(t0, { deadlineMs: 0, stepTimeoutMs: 0 }))
      .then([unlimited]);
    spec
      .given([unlimited])
      .when(expire(at(365 * 24 * 60 * MINUTE)))
      .then([]);
  });

  it("a saga started before deadlines were recorded has none", () => {
    // Its SagaStarted (version 1) as the store hands it on, lifted to version 2 (domain/upcasting.ts).
    const before: SagaEvent = { type: "SagaStarted", data: { ...order, at: t0, deadline: null, stepTimeoutMs: null, definition: 1 } };
    expect(EVENT_UPCASTERS.upcast("SagaStarted", 1, { ...order, at: t0 })).toEqual(before.data);
    expect(saga.dueOf(stateAfter([before]))).toBeNull();
    spec
      .given([before])
      .when(expire(at(24 * 60 * MINUTE)))
      .then([]);
  });

  it("before its due time nothing happens", () => {
    // The step's timeout runs from the last progress (1 min): due at 6 min.
    expect(saga.dueOf(stateAfter(waitingForPayment))).toEqual({ at: at(6 * MINUTE), reason: "STEP_TIMED_OUT" });
    spec
      .given(waitingForPayment)
      .when(expire(at(6 * MINUTE - 1)))
      .then([]);
  });

  it("a step waiting past its timeout times the saga out: the order is rejected, the payment asked for is voided, it ends timed-out", () => {
    const stopped = timedOut("authorizePayment", "STEP_TIMED_OUT", at(6 * MINUTE), at(6 * MINUTE));
    spec
      .given(waitingForPayment)
      .when(expire(at(6 * MINUTE)))
      .then([stopped]);
    expect(saga.nextAction(stateAfter([...waitingForPayment, stopped]))).toEqual({ type: "RejectOrder", orderId, reason: "STEP_TIMED_OUT" });

    const rejected = succeeded("rejectOrder", at(6 * MINUTE + 1));
    spec
      .given([...waitingForPayment, stopped])
      .when(result("rejectOrder", ok, at(6 * MINUTE + 1)))
      .then([rejected]);
    expect(saga.nextAction(stateAfter([...waitingForPayment, stopped, rejected]))).toEqual({
      type: "Compensate",
      orderId,
      step: "authorizePayment",
      compensation: "voidPayment",
    });
    spec
      .given([...waitingForPayment, stopped, rejected])
      .when(compensation("authorizePayment", at(6 * MINUTE + 2)))
      .then([voided(at(6 * MINUTE + 2)), ended("timed-out", "STEP_TIMED_OUT", at(6 * MINUTE + 2))]);
  });

  it("progress moves a step's due time; the deadline does not move", () => {
    // Each step within its 5 minutes, but 10 minutes in all: the deadline passes first.
    const slow = [started, succeeded("checkFraud", at(4 * MINUTE)), succeeded("authorizePayment", at(8 * MINUTE))];
    expect(saga.dueOf(stateAfter(slow))).toEqual({ at: at(10 * MINUTE), reason: "DEADLINE_EXCEEDED" });
    spec
      .given(slow)
      .when(expire(at(9 * MINUTE)))
      .then([]);
    spec
      .given(slow)
      .when(expire(at(10 * MINUTE)))
      .then([timedOut("confirmOrder", "DEADLINE_EXCEEDED", at(10 * MINUTE), at(10 * MINUTE))]);
  });

  it("an overdue step found after the deadline also passed is reported as the deadline", () => {
    spec
      .given(waitingForPayment)
      .when(expire(at(11 * MINUTE)))
      .then([timedOut("authorizePayment", "DEADLINE_EXCEEDED", at(6 * MINUTE), at(11 * MINUTE))]);
  });

  it("a saga already settling (refused, cancelled) or ended does not time out", () => {
    const refused: SagaEvent = {
      type: "SagaStepFailed",
      data: { orderId, step: "authorizePayment", reason: "PAYMENT_DECLINED", detail: "AMOUNT_ABOVE_LIMIT", at: at(MINUTE) },
    };
    const cancelled: SagaEvent = { type: "SagaCancellationRequested", data: { orderId, at: at(MINUTE) } };
    for (const history of [
      [...waitingForPayment, refused],
      [...waitingForPayment, cancelled],
      [
        ...waitingForPayment,
        succeeded("authorizePayment", at(2 * MINUTE)),
        succeeded("confirmOrder", at(2 * MINUTE)),
        ended("confirmed", null, at(2 * MINUTE)),
      ],
    ]) {
      expect(saga.dueOf(stateAfter(history))).toBeNull();
      spec
        .given(history)
        .when(expire(at(60 * MINUTE)))
        .then([]);
    }
  });

  it("times out once: a second expiry changes nothing", () => {
    const stopped = timedOut("authorizePayment", "STEP_TIMED_OUT", at(6 * MINUTE), at(6 * MINUTE));
    spec
      .given([...waitingForPayment, stopped])
      .when(expire(at(7 * MINUTE)))
      .then([]);
  });

  describe("a step result that arrives after the timeout", () => {
    const stopped = timedOut("authorizePayment", "STEP_TIMED_OUT", at(6 * MINUTE), at(6 * MINUTE));
    const timedOutSaga = [
      ...waitingForPayment,
      stopped,
      succeeded("rejectOrder", at(6 * MINUTE)),
      voided(at(6 * MINUTE)),
      ended("timed-out", "STEP_TIMED_OUT", at(6 * MINUTE)),
    ];

    it("a payment authorised after the end is recorded, and its void (which barred it) is not asked again", () => {
      const late = succeeded("authorizePayment", at(7 * MINUTE));
      spec
        .given(timedOutSaga)
        .when(result("authorizePayment", ok, at(7 * MINUTE)))
        .then([late]);
      expect(saga.nextAction(stateAfter([...timedOutSaga, late]))).toBeNull();
    });

    it("a payment authorised before the order was rejected is recorded, and voided after the rejection", () => {
      const late = succeeded("authorizePayment", at(6 * MINUTE + 1));
      spec
        .given([...waitingForPayment, stopped])
        .when(result("authorizePayment", ok, at(6 * MINUTE + 1)))
        .then([late]);
      expect(saga.nextAction(stateAfter([...waitingForPayment, stopped, late]))).toEqual({ type: "RejectOrder", orderId, reason: "STEP_TIMED_OUT" });
    });

    it("a refusal after the timeout is not recorded: the order is rejected for the timeout", () => {
      spec
        .given([...waitingForPayment, stopped])
        .when(result("authorizePayment", { kind: "refused", detail: "AMOUNT_ABOVE_LIMIT" }, at(6 * MINUTE + 1)))
        .then([]);
    });
  });

  describe("the deadline passes while confirmOrder may have happened: the order's truth wins", () => {
    const confirming = [...waitingForPayment, succeeded("authorizePayment", at(2 * MINUTE))];
    const stopped = timedOut("confirmOrder", "DEADLINE_EXCEEDED", at(10 * MINUTE), at(10 * MINUTE));

    it("the order was confirmed first: rejectOrder finds it confirmed, the saga ends confirmed and voids nothing", () => {
      expect(saga.nextAction(stateAfter([...confirming, stopped]))).toEqual({ type: "RejectOrder", orderId, reason: "DEADLINE_EXCEEDED" });
      const confirmed = [succeeded("confirmOrder", at(10 * MINUTE + 1)), ended("confirmed", null, at(10 * MINUTE + 1))];
      spec
        .given([...confirming, stopped])
        .when(result("rejectOrder", { kind: "orderConfirmed" }, at(10 * MINUTE + 1)))
        .then(confirmed);
      expect(saga.nextAction(stateAfter([...confirming, stopped, ...confirmed]))).toBeNull();
    });

    it("the confirmation's own answer arriving after the timeout ends the saga confirmed all the same", () => {
      spec
        .given([...confirming, stopped])
        .when(result("confirmOrder", ok, at(10 * MINUTE + 1)))
        .then([succeeded("confirmOrder", at(10 * MINUTE + 1)), ended("confirmed", null, at(10 * MINUTE + 1))]);
    });

    it("the order was rejected first: the confirmation finds it rejected and changes nothing; the payment is voided after the rejection", () => {
      const rejected = succeeded("rejectOrder", at(10 * MINUTE + 1));
      spec
        .given([...confirming, stopped, rejected])
        .when(result("confirmOrder", { kind: "orderRejected" }, at(10 * MINUTE + 2)))
        .then([]);
      expect(saga.nextAction(stateAfter([...confirming, stopped, rejected]))).toMatchObject({ type: "Compensate", compensation: "voidPayment" });
    });

    it("an order found rejected by a saga that did not stop is refused", () => {
      spec
        .given(confirming)
        .when(result("confirmOrder", { kind: "orderRejected" }, at(3 * MINUTE)))
        .thenThrows("SAGA_ORDER_REJECTED");
    });
  });
});

describe("operators' actions on a saga", () => {
  it("a retry is recorded with who, why and the step it retries, and restarts that step's timeout", () => {
    const retried: SagaEvent = {
      type: "SagaRetryRequested",
      data: { orderId, by: "alice", reason: "payments is back", step: "authorizePayment", at: at(5 * MINUTE) },
    };
    spec
      .given(waitingForPayment)
      .when(retry(at(5 * MINUTE)))
      .then([retried]);
    expect(saga.nextAction(stateAfter([...waitingForPayment, retried]))).toEqual({ type: "AuthorizePayment", order });
    // Due at 6 min before the retry, at 10 min (the deadline, before 5 + 5) after it.
    expect(saga.dueOf(stateAfter([...waitingForPayment, retried]))).toEqual({ at: at(10 * MINUTE), reason: "DEADLINE_EXCEEDED" });
  });

  it("a cancellation is recorded with who and why; the order is rejected CANCELLED_BY_OPERATOR, the payment voided, the saga ends cancelled", () => {
    const cancelled: SagaEvent = {
      type: "SagaCancelledByOperator",
      data: { orderId, by: "alice", reason: "customer called", step: "authorizePayment", at: at(2 * MINUTE) },
    };
    spec
      .given(waitingForPayment)
      .when(cancel(at(2 * MINUTE)))
      .then([cancelled]);
    expect(saga.nextAction(stateAfter([...waitingForPayment, cancelled]))).toEqual({ type: "RejectOrder", orderId, reason: "CANCELLED_BY_OPERATOR" });
    const rejected = succeeded("rejectOrder", at(2 * MINUTE));
    expect(saga.nextAction(stateAfter([...waitingForPayment, cancelled, rejected]))).toMatchObject({ type: "Compensate", compensation: "voidPayment" });
    spec
      .given([...waitingForPayment, cancelled, rejected])
      .when(compensation("authorizePayment", at(2 * MINUTE)))
      .then([voided(at(2 * MINUTE)), ended("cancelled", "CANCELLED_BY_OPERATOR", at(2 * MINUTE))]);
    expect(saga.dueOf(stateAfter([...waitingForPayment, cancelled]))).toBeNull();
  });

  it("a cancellation of a saga already rejecting or cancelling its order is refused", () => {
    const stopped = timedOut("authorizePayment", "STEP_TIMED_OUT", at(6 * MINUTE), at(6 * MINUTE));
    spec
      .given([...waitingForPayment, stopped])
      .when(cancel(at(7 * MINUTE)))
      .thenThrows("SAGA_COMPENSATING");
  });

  it.each<[string, SagaCommand]>([
    ["a retry", retry(at(3 * MINUTE))],
    ["a cancellation", cancel(at(3 * MINUTE))],
  ])("%s of an ended saga is refused, of an unknown one not found", (_name, command) => {
    const confirmed = [
      ...waitingForPayment,
      succeeded("authorizePayment", at(2 * MINUTE)),
      succeeded("confirmOrder", at(2 * MINUTE)),
      ended("confirmed", null, at(2 * MINUTE)),
    ];
    spec.given(confirmed).when(command).thenThrows("SAGA_ENDED", { outcome: "confirmed" });
    spec.given([]).when(command).thenThrows("SAGA_NOT_FOUND");
  });
});

import { DomainError } from "./errors";

/**
 * The order saga as a pure workflow: `decide` records what happened, `nextAction` says what
 * the orchestrator must do next. Every step's result is recorded before the next step starts,
 * so a saga resumed after a crash or a redelivery never repeats a step it recorded.
 *
 *   checkFraud → authorizePayment → confirmOrder                      ⇒ confirmed
 *   a step fails (fraud, declined payment) → rejectOrder → compensate  ⇒ rejected
 *   the order is cancelled meanwhile → compensate                      ⇒ cancelled
 *
 * Compensations are data: each step that has an undo and may have happened is compensated,
 * in reverse order.
 */

export type SagaStep = "checkFraud" | "authorizePayment" | "confirmOrder" | "rejectOrder";
export type Compensation = "voidPayment";
export type SagaOutcome = "confirmed" | "rejected" | "cancelled";

/** Why an order was rejected, as orders.reject records it. */
export type RejectionReason = "FRAUD_REJECTED" | "PAYMENT_DECLINED";

const FORWARD_STEPS: readonly SagaStep[] = ["checkFraud", "authorizePayment", "confirmOrder"];
const COMPENSATION_OF: Partial<Record<SagaStep, Compensation>> = { authorizePayment: "voidPayment" };
const REJECTION_OF: Partial<Record<SagaStep, RejectionReason>> = {
  checkFraud: "FRAUD_REJECTED",
  authorizePayment: "PAYMENT_DECLINED",
};
const CANCELLED_REASON = "ORDER_CANCELLED";

export interface SagaOrder {
  orderId: string;
  customerId: string;
  amount: number;
  currency: string;
}

/** What a participant answered; infrastructure failures are not results, they are retried. */
export type StepResult =
  | { kind: "succeeded" }
  /** A business refusal: fraud suspected, payment declined. */
  | { kind: "refused"; detail: string }
  /** The order was cancelled before this step could act on it. */
  | { kind: "orderCancelled" };

export interface SagaCommandMetadata {
  now: string;
}

export type SagaCommand =
  | { type: "StartSaga"; data: SagaOrder; metadata: SagaCommandMetadata }
  | { type: "RequestCancellation"; data: { orderId: string }; metadata: SagaCommandMetadata }
  | { type: "RecordStepResult"; data: { orderId: string; step: SagaStep; result: StepResult }; metadata: SagaCommandMetadata }
  | { type: "RecordCompensation"; data: { orderId: string; step: SagaStep }; metadata: SagaCommandMetadata };

export type SagaEvent =
  | { type: "SagaStarted"; data: SagaOrder & { at: string } }
  | { type: "SagaStepSucceeded"; data: { orderId: string; step: SagaStep; at: string } }
  | { type: "SagaStepFailed"; data: { orderId: string; step: SagaStep; reason: RejectionReason; detail: string; at: string } }
  | { type: "SagaCancellationRequested"; data: { orderId: string; at: string } }
  | { type: "SagaStepCompensated"; data: { orderId: string; step: SagaStep; compensation: Compensation; at: string } }
  | { type: "SagaEnded"; data: { orderId: string; outcome: SagaOutcome; reason: string | null; at: string } };

export type SagaEventType = SagaEvent["type"];

interface SagaProgress {
  order: SagaOrder;
  completed: SagaStep[];
  compensated: SagaStep[];
  failure: { step: SagaStep; reason: RejectionReason } | null;
  cancellationRequested: boolean;
  startedAt: string;
}

export type OrderSaga =
  /** A cancellation can arrive before the order's creation is processed: it is kept. */
  | { status: "initial"; cancellationRequested: boolean }
  | ({ status: "running" } & SagaProgress)
  | ({ status: "ended"; outcome: SagaOutcome; reason: string | null; endedAt: string } & SagaProgress);

export type SagaAction =
  | { type: "CheckFraud"; order: SagaOrder }
  | { type: "AuthorizePayment"; order: SagaOrder }
  | { type: "ConfirmOrder"; orderId: string }
  | { type: "RejectOrder"; orderId: string; reason: RejectionReason }
  | { type: "Compensate"; orderId: string; step: SagaStep; compensation: Compensation };

export const STEP_OF_ACTION = {
  CheckFraud: "checkFraud",
  AuthorizePayment: "authorizePayment",
  ConfirmOrder: "confirmOrder",
  RejectOrder: "rejectOrder",
} as const satisfies Record<string, SagaStep>;

export function initialState(): OrderSaga {
  return { status: "initial", cancellationRequested: false };
}

/**
 * Records what a command says happened and, when that leaves the saga nothing more to do,
 * its end in the same append.
 */
export function decide(command: SagaCommand, state: OrderSaga): SagaEvent[] {
  const events = recordFacts(command, state);
  if (events.length === 0) return events;
  const after = events.reduce(evolve, state);
  if (after.status !== "running") return events;
  const ending = outcomeOf(after);
  if (!ending) return events;
  return [...events, { type: "SagaEnded", data: { orderId: after.order.orderId, ...ending, at: command.metadata.now } }];
}

function recordFacts(command: SagaCommand, state: OrderSaga): SagaEvent[] {
  const at = command.metadata.now;
  switch (command.type) {
    case "StartSaga":
      if (state.status !== "initial") return [];
      return [{ type: "SagaStarted", data: { ...command.data, at } }];

    case "RequestCancellation": {
      const { orderId } = command.data;
      if (state.cancellationRequested || state.status === "ended") return [];
      if (state.status === "running" && state.completed.includes("confirmOrder")) return [];
      return [{ type: "SagaCancellationRequested", data: { orderId, at } }];
    }

    case "RecordStepResult": {
      const { orderId, step, result } = command.data;
      const progress = started(state, orderId);
      if (progress.completed.includes(step)) return [];
      if (state.status === "ended") {
        // A step that was in flight when the saga ended still happened: record it so that
        // it is compensated, unless the saga ended well.
        const needsUndo = result.kind === "succeeded" && COMPENSATION_OF[step] && state.outcome !== "confirmed";
        return needsUndo ? [{ type: "SagaStepSucceeded", data: { orderId, step, at } }] : [];
      }
      switch (result.kind) {
        case "succeeded":
          return [{ type: "SagaStepSucceeded", data: { orderId, step, at } }];
        case "refused": {
          const reason = REJECTION_OF[step];
          if (!reason) throw new DomainError("SAGA_STEP_CANNOT_FAIL", `step ${step} cannot be refused`, { step });
          if (progress.failure) return [];
          return [{ type: "SagaStepFailed", data: { orderId, step, reason, detail: result.detail, at } }];
        }
        case "orderCancelled":
          return progress.cancellationRequested ? [] : [{ type: "SagaCancellationRequested", data: { orderId, at } }];
        default: {
          const unknown: never = result;
          throw new Error(`unknown step result ${JSON.stringify(unknown)}`);
        }
      }
    }

    case "RecordCompensation": {
      const { orderId, step } = command.data;
      const progress = started(state, orderId);
      const compensation = COMPENSATION_OF[step];
      if (!compensation || !mayHaveHappened(progress).includes(step) || progress.compensated.includes(step)) return [];
      return [{ type: "SagaStepCompensated", data: { orderId, step, compensation, at } }];
    }

    default: {
      const unknown: never = command;
      throw new Error(`unknown command ${JSON.stringify(unknown)}`);
    }
  }
}

export function evolve(state: OrderSaga, event: SagaEvent): OrderSaga {
  switch (event.type) {
    case "SagaStarted": {
      const { at, ...order } = event.data;
      return {
        status: "running",
        order,
        completed: [],
        compensated: [],
        failure: null,
        cancellationRequested: state.cancellationRequested,
        startedAt: at,
      };
    }
    case "SagaCancellationRequested":
      return { ...state, cancellationRequested: true };
    case "SagaStepSucceeded":
      return state.status === "initial" ? state : { ...state, completed: [...state.completed, event.data.step] };
    case "SagaStepFailed":
      return state.status === "initial" ? state : { ...state, failure: { step: event.data.step, reason: event.data.reason } };
    case "SagaStepCompensated":
      return state.status === "initial" ? state : { ...state, compensated: [...state.compensated, event.data.step] };
    case "SagaEnded":
      return state.status === "initial" ? state : { ...state, status: "ended", outcome: event.data.outcome, reason: event.data.reason, endedAt: event.data.at };
    default: {
      const unknown: never = event;
      throw new Error(`unknown event ${JSON.stringify(unknown)}`);
    }
  }
}

/** What the orchestrator must do next, or null when there is nothing (yet, or any more). */
export function nextAction(state: OrderSaga): SagaAction | null {
  if (state.status === "initial") return null;
  const { orderId } = state.order;
  const undo = pendingUndo(state);
  const compensate = (step: SagaStep): SagaAction => ({ type: "Compensate", orderId, step, compensation: COMPENSATION_OF[step]! });

  if (state.status === "ended") return state.outcome !== "confirmed" && undo ? compensate(undo) : null;
  if (outcomeOf(state)) return null;
  if (state.cancellationRequested) return undo ? compensate(undo) : null;
  if (state.failure) {
    if (!state.completed.includes("rejectOrder")) return { type: "RejectOrder", orderId, reason: state.failure.reason };
    return undo ? compensate(undo) : null;
  }
  const next = FORWARD_STEPS.find((step) => !state.completed.includes(step));
  switch (next) {
    case "checkFraud":
      return { type: "CheckFraud", order: state.order };
    case "authorizePayment":
      return { type: "AuthorizePayment", order: state.order };
    default:
      return { type: "ConfirmOrder", orderId };
  }
}

/** How a running saga ends once nothing is left to do, or null while something is. */
function outcomeOf(state: Extract<OrderSaga, { status: "running" }>): { outcome: SagaOutcome; reason: string | null } | null {
  if (state.completed.includes("confirmOrder")) return { outcome: "confirmed", reason: null };
  if (pendingUndo(state)) return null;
  if (state.cancellationRequested) return { outcome: "cancelled", reason: CANCELLED_REASON };
  if (state.failure && state.completed.includes("rejectOrder")) return { outcome: "rejected", reason: state.failure.reason };
  return null;
}

/**
 * The latest step that may have happened and whose undo has not run: compensations run in
 * reverse. A step counts from the moment the saga could have asked for it, not from its
 * recorded success: a call whose answer was lost (a timeout) may still have done its work,
 * and undos are idempotent, so undoing what never happened costs nothing.
 */
function pendingUndo(state: Exclude<OrderSaga, { status: "initial" }>): SagaStep | undefined {
  return mayHaveHappened(state)
    .reverse()
    .find((step) => COMPENSATION_OF[step] && !state.compensated.includes(step));
}

/** The completed steps, and the step the saga asks for next unless it was refused. */
function mayHaveHappened(state: Exclude<OrderSaga, { status: "initial" }>): SagaStep[] {
  const asked = FORWARD_STEPS.find((step) => !state.completed.includes(step));
  return asked && state.failure?.step !== asked ? [...state.completed, asked] : [...state.completed];
}

function started(state: OrderSaga, orderId: string): Exclude<OrderSaga, { status: "initial" }> {
  if (state.status === "initial") throw new DomainError("SAGA_NOT_STARTED", `saga of order ${orderId} has not started`);
  return state;
}

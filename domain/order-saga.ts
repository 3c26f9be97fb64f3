import { DomainError } from "./errors";

/**
 * The order saga as a pure workflow: `decide` records what happened, `nextAction` says what
 * the orchestrator must do next. Every step's result is recorded before the next step starts,
 * so a saga resumed after a crash or a redelivery never repeats a step it recorded.
 *
 *   checkFraud → authorizePayment → confirmOrder [→ capturePayment]   ⇒ confirmed
 *   a step fails (fraud, declined payment) → rejectOrder → compensate  ⇒ rejected
 *   the order is cancelled meanwhile → compensate                      ⇒ cancelled
 *   its deadline or a step's timeout passes → rejectOrder → compensate ⇒ timed-out
 *   an operator cancels it → rejectOrder → compensate                  ⇒ cancelled
 *
 * Its deadline and step timeout are recorded when it starts (SagaStarted), so a change of
 * configuration never moves the deadline of a saga already running; a saga stops for them only
 * while it still moves forward (a rejection or cancellation under way is settling already).
 * The order's truth wins every race: a saga that stops rejects its order before it undoes
 * anything, and an order found confirmed ends the saga confirmed, with nothing undone.
 *
 * Compensations are data: each step that has an undo and may have happened is compensated,
 * in reverse order.
 *
 * The workflow itself is data too, and versioned (SAGA_DEFINITIONS): a saga records the version
 * of the definition it starts with (SagaStarted) and runs by it to its end, whatever the code's
 * latest is, so a definition can change while sagas run.
 */

export type SagaStep = "checkFraud" | "authorizePayment" | "confirmOrder" | "capturePayment" | "rejectOrder";
/** The steps a definition runs in order; rejectOrder is the saga's own way back, in every definition. */
type ForwardStep = Exclude<SagaStep, "rejectOrder">;
export type Compensation = "voidPayment";
export const SAGA_OUTCOMES = ["confirmed", "rejected", "cancelled", "timed-out"] as const;
export type SagaOutcome = (typeof SAGA_OUTCOMES)[number];

/** Why a saga timed out: its deadline passed, or one step waited longer than its timeout. */
export type TimeoutReason = "DEADLINE_EXCEEDED" | "STEP_TIMED_OUT";

/** Why an order was rejected, as orders.reject records it. */
export type RejectionReason = "FRAUD_REJECTED" | "PAYMENT_DECLINED" | TimeoutReason | typeof OPERATOR_CANCELLED_REASON;

/** One version of the workflow. */
export interface SagaDefinition {
  version: number;
  /** The steps that take an order to its confirmation, in order. */
  steps: readonly ForwardStep[];
  /**
   * The step that settles the order: once it succeeded nothing is undone, and the steps after it
   * are carried out whatever happens (no cancellation, stop or time limit holds them back), as
   * the order they serve is confirmed already.
   */
  pointOfNoReturn: ForwardStep;
  /** The undo of each step that has one. */
  compensations: Partial<Record<SagaStep, Compensation>>;
}

/**
 * Every definition this code can run, by version. v2 captures the payment once the order is
 * confirmed: the money is taken only for an order that stands. A capture is never undone by
 * the saga: it comes after the point of no return (a captured payment is not voided either, see
 * domain/payment.ts), and giving money back is a refund, a business decision of its own.
 */
export const SAGA_DEFINITIONS: readonly SagaDefinition[] = [
  {
    version: 1,
    steps: ["checkFraud", "authorizePayment", "confirmOrder"],
    pointOfNoReturn: "confirmOrder",
    compensations: { authorizePayment: "voidPayment" },
  },
  {
    version: 2,
    steps: ["checkFraud", "authorizePayment", "confirmOrder", "capturePayment"],
    pointOfNoReturn: "confirmOrder",
    compensations: { authorizePayment: "voidPayment" },
  },
];
export const LATEST_SAGA_DEFINITION = SAGA_DEFINITIONS.length;

const REJECTION_OF: Partial<Record<SagaStep, RejectionReason>> = {
  checkFraud: "FRAUD_REJECTED",
  authorizePayment: "PAYMENT_DECLINED",
};
const CANCELLED_REASON = "ORDER_CANCELLED";
/** The order's rejection, and the saga's end, when an operator cancelled the saga. */
export const OPERATOR_CANCELLED_REASON = "CANCELLED_BY_OPERATOR";

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
  | { kind: "orderCancelled" }
  /** rejectOrder found the order confirmed: a confirmation in flight when the saga stopped won. */
  | { kind: "orderConfirmed" }
  /** confirmOrder found the order rejected: the saga stopped (timed out, cancelled by an operator) and rejected it first. */
  | { kind: "orderRejected" };

export interface SagaCommandMetadata {
  now: string;
}

/** A saga's time limits as configured when it starts, in milliseconds; 0 turns one off. */
export interface SagaTimeLimits {
  /** From its start to its end (SAGA_DEADLINE_MS). */
  deadlineMs: number;
  /** From its last recorded progress to the next (SAGA_STEP_TIMEOUT_MS). */
  stepTimeoutMs: number;
}

/** Who asked for an operator's action on a saga (the admin's name; null when no admin named the call) and why. */
export interface OperatorRequest {
  orderId: string;
  by: string | null;
  reason: string;
}

export type SagaCommand =
  /** `definition`: the version of the workflow it runs (SAGA_DEFINITION), recorded with its start. */
  | { type: "StartSaga"; data: SagaOrder & { limits: SagaTimeLimits; definition: number }; metadata: SagaCommandMetadata }
  | { type: "RequestCancellation"; data: { orderId: string }; metadata: SagaCommandMetadata }
  | { type: "RecordStepResult"; data: { orderId: string; step: SagaStep; result: StepResult }; metadata: SagaCommandMetadata }
  | { type: "RecordCompensation"; data: { orderId: string; step: SagaStep }; metadata: SagaCommandMetadata }
  /** Times the saga out if its deadline or its step's timeout has passed at `now`; nothing before. */
  | { type: "ExpireSaga"; data: { orderId: string }; metadata: SagaCommandMetadata }
  /** An operator's "do the current step again now" (after its message was dead-lettered, say). */
  | { type: "RetrySaga"; data: OperatorRequest; metadata: SagaCommandMetadata }
  /** An operator's "stop it": reject the order, undo what may have happened. */
  | { type: "CancelSaga"; data: OperatorRequest; metadata: SagaCommandMetadata };

export type SagaEvent =
  | {
      type: "SagaStarted";
      data: SagaOrder & {
        at: string;
        /** When it must have ended; null: none. */
        deadline: string | null;
        /** How long a step may wait after the last progress; null: no limit. */
        stepTimeoutMs: number | null;
        /** The version of the definition it runs (SAGA_DEFINITIONS), to its end. */
        definition: number;
      };
    }
  | { type: "SagaStepSucceeded"; data: { orderId: string; step: SagaStep; at: string } }
  | { type: "SagaStepFailed"; data: { orderId: string; step: SagaStep; reason: RejectionReason; detail: string; at: string } }
  | { type: "SagaCancellationRequested"; data: { orderId: string; at: string } }
  | { type: "SagaStepCompensated"; data: { orderId: string; step: SagaStep; compensation: Compensation; at: string } }
  /** `step`: the step it was waiting on; `dueAt`: the limit that passed. */
  | { type: "SagaTimedOut"; data: { orderId: string; step: SagaStep; reason: TimeoutReason; dueAt: string; at: string } }
  | { type: "SagaRetryRequested"; data: OperatorRequest & { step: SagaStep; at: string } }
  | { type: "SagaCancelledByOperator"; data: OperatorRequest & { step: SagaStep; at: string } }
  | { type: "SagaEnded"; data: { orderId: string; outcome: SagaOutcome; reason: string | null; at: string } };

export type SagaEventType = SagaEvent["type"];

/**
 * SagaStarted version 1 → 2 (domain/upcasting.ts): sagas started before their limits were
 * recorded have neither a deadline nor a step timeout, which version 2 says with nulls.
 */
export function sagaStartedV2(v1: Readonly<Record<string, unknown>>): Readonly<Record<string, unknown>> {
  return { ...v1, deadline: null, stepTimeoutMs: null };
}

/**
 * SagaStarted version 2 → 3 (domain/upcasting.ts): every saga started before definitions were
 * versioned ran the first one.
 */
export function sagaStartedV3(v2: Readonly<Record<string, unknown>>): Readonly<Record<string, unknown>> {
  return { ...v2, definition: 1 };
}

/**
 * Why an orchestrator that knows the definitions up to `knownUpTo` (SAGA_DEFINITION) must not
 * drive this saga, or null when it may: a saga is never run by rules other than its own.
 */
export function definitionRefusal(state: OrderSaga, knownUpTo: number): string | null {
  const known = Math.min(knownUpTo, LATEST_SAGA_DEFINITION);
  if (state.status === "initial" || state.definition <= known) return null;
  return `saga of order ${state.order.orderId} runs definition v${state.definition}; this orchestrator knows ${known === 1 ? "v1" : `v1 to v${known}`}`;
}

/** The definition a saga runs. */
function definitionOf(state: SagaRecord): SagaDefinition {
  const definition = SAGA_DEFINITIONS.find((candidate) => candidate.version === state.definition);
  if (!definition)
    throw new DomainError("SAGA_DEFINITION_UNKNOWN", definitionRefusal(state, LATEST_SAGA_DEFINITION) ?? `no saga definition v${state.definition}`);
  return definition;
}

/** Why a saga was stopped before its end: it rejects its order with `reason` and ends with `outcome`. */
export interface SagaStop {
  outcome: Extract<SagaOutcome, "timed-out" | "cancelled">;
  reason: RejectionReason;
  /** The step it was waiting on. */
  step: SagaStep;
}

interface SagaProgress {
  order: SagaOrder;
  /** The version of the definition it runs. */
  definition: number;
  completed: SagaStep[];
  compensated: SagaStep[];
  failure: { step: SagaStep; reason: RejectionReason } | null;
  cancellationRequested: boolean;
  stop: SagaStop | null;
  startedAt: string;
  deadline: string | null;
  stepTimeoutMs: number | null;
  /** When it last recorded anything: the current step's timeout runs from here. */
  lastProgressAt: string;
  /** The step of the last event that named one. */
  lastStep: SagaStep | null;
}

/** A saga that has started. */
type SagaRecord = Exclude<OrderSaga, { status: "initial" }>;

export type OrderSaga =
  /** A cancellation can arrive before the order's creation is processed: it is kept. */
  | { status: "initial"; cancellationRequested: boolean }
  | ({ status: "running" } & SagaProgress)
  | ({ status: "ended"; outcome: SagaOutcome; reason: string | null; endedAt: string } & SagaProgress);

export type SagaAction =
  | { type: "CheckFraud"; order: SagaOrder }
  | { type: "AuthorizePayment"; order: SagaOrder }
  | { type: "ConfirmOrder"; orderId: string }
  | { type: "CapturePayment"; orderId: string }
  | { type: "RejectOrder"; orderId: string; reason: RejectionReason }
  | { type: "Compensate"; orderId: string; step: SagaStep; compensation: Compensation };

export const STEP_OF_ACTION = {
  CheckFraud: "checkFraud",
  AuthorizePayment: "authorizePayment",
  ConfirmOrder: "confirmOrder",
  CapturePayment: "capturePayment",
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
    case "StartSaga": {
      if (state.status !== "initial") return [];
      const { limits, definition, ...order } = command.data;
      if (!SAGA_DEFINITIONS.some((candidate) => candidate.version === definition)) {
        throw new DomainError("SAGA_DEFINITION_UNKNOWN", `no saga definition v${definition}; this code has v1 to v${LATEST_SAGA_DEFINITION}`, { definition });
      }
      const deadline = limits.deadlineMs > 0 ? new Date(Date.parse(at) + limits.deadlineMs).toISOString() : null;
      const stepTimeoutMs = limits.stepTimeoutMs > 0 ? limits.stepTimeoutMs : null;
      return [{ type: "SagaStarted", data: { ...order, at, deadline, stepTimeoutMs, definition } }];
    }

    case "RequestCancellation": {
      const { orderId } = command.data;
      if (state.cancellationRequested || state.status === "ended") return [];
      if (state.status === "running" && pastPointOfNoReturn(state)) return [];
      return [{ type: "SagaCancellationRequested", data: { orderId, at } }];
    }

    case "RecordStepResult": {
      const { orderId, step, result } = command.data;
      const progress = started(state, orderId);
      if (progress.completed.includes(step)) return [];
      if (state.status === "ended") {
        // A step that was in flight when the saga ended still happened: record it so that
        // it is compensated, unless the saga ended well.
        const needsUndo = result.kind === "succeeded" && definitionOf(state).compensations[step] && state.outcome !== "confirmed";
        return needsUndo ? [{ type: "SagaStepSucceeded", data: { orderId, step, at } }] : [];
      }
      switch (result.kind) {
        case "succeeded":
          return [{ type: "SagaStepSucceeded", data: { orderId, step, at } }];
        case "refused": {
          const reason = REJECTION_OF[step];
          if (!reason) throw new DomainError("SAGA_STEP_CANNOT_FAIL", `step ${step} cannot be refused`, { step });
          // Once stopped, the saga rejects the order for its own reason; undoing a refused step costs nothing.
          if (progress.failure || progress.stop) return [];
          return [{ type: "SagaStepFailed", data: { orderId, step, reason, detail: result.detail, at } }];
        }
        case "orderCancelled":
          return progress.cancellationRequested ? [] : [{ type: "SagaCancellationRequested", data: { orderId, at } }];
        case "orderConfirmed":
          // The order's truth wins: the confirmation in flight when the saga stopped happened.
          return [{ type: "SagaStepSucceeded", data: { orderId, step: "confirmOrder", at } }];
        case "orderRejected":
          // Rejected by this saga's own stop, which goes on from there.
          if (progress.stop) return [];
          throw new DomainError("SAGA_ORDER_REJECTED", `order ${orderId} was rejected outside its saga`, { step });
        default: {
          const unknown: never = result;
          throw new Error(`unknown step result ${JSON.stringify(unknown)}`);
        }
      }
    }

    case "RecordCompensation": {
      const { orderId, step } = command.data;
      const progress = started(state, orderId);
      const compensation = definitionOf(progress).compensations[step];
      // Past its point of no return, its order stands: nothing is undone.
      if (!compensation || pastPointOfNoReturn(progress) || !mayHaveHappened(progress).includes(step) || progress.compensated.includes(step)) return [];
      return [{ type: "SagaStepCompensated", data: { orderId, step, compensation, at } }];
    }

    case "ExpireSaga": {
      const { orderId } = command.data;
      const progress = started(state, orderId);
      const due = dueOf(progress);
      const step = currentStep(progress);
      if (!due || !step || Date.parse(at) < Date.parse(due.at)) return [];
      const reason = progress.deadline !== null && Date.parse(at) >= Date.parse(progress.deadline) ? "DEADLINE_EXCEEDED" : due.reason;
      return [{ type: "SagaTimedOut", data: { orderId, step, reason, dueAt: due.at, at } }];
    }

    case "RetrySaga": {
      const progress = operable(state, command.data.orderId);
      const step = currentStep(progress);
      if (!step) return [];
      return [{ type: "SagaRetryRequested", data: { ...command.data, step, at } }];
    }

    case "CancelSaga": {
      const { orderId } = command.data;
      const progress = operable(state, orderId);
      const step = currentStep(progress);
      if (pastPointOfNoReturn(progress)) {
        throw new DomainError("SAGA_PAST_CONFIRMATION", `the saga of order ${orderId} has confirmed its order; it finishes ${step ?? "its steps"}`, { step });
      }
      if (!movesForward(progress) || !step) {
        throw new DomainError("SAGA_COMPENSATING", `the saga of order ${orderId} is already rejecting or cancelling its order`);
      }
      return [{ type: "SagaCancelledByOperator", data: { ...command.data, step, at } }];
    }

    default: {
      const unknown: never = command;
      throw new Error(`unknown command ${JSON.stringify(unknown)}`);
    }
  }
}

export function evolve(state: OrderSaga, event: SagaEvent): OrderSaga {
  const next = applyEvent(state, event);
  if (next.status === "initial") return next;
  const step = "step" in event.data ? event.data.step : next.lastStep;
  return { ...next, lastProgressAt: event.data.at, lastStep: step };
}

function applyEvent(state: OrderSaga, event: SagaEvent): OrderSaga {
  switch (event.type) {
    case "SagaStarted": {
      const { at, deadline, stepTimeoutMs, definition, ...order } = event.data;
      return {
        status: "running",
        order,
        definition,
        completed: [],
        compensated: [],
        failure: null,
        cancellationRequested: state.cancellationRequested,
        stop: null,
        startedAt: at,
        deadline,
        stepTimeoutMs,
        lastProgressAt: at,
        lastStep: null,
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
    case "SagaTimedOut":
      return state.status === "initial" ? state : { ...state, stop: { outcome: "timed-out", reason: event.data.reason, step: event.data.step } };
    case "SagaCancelledByOperator":
      return state.status === "initial" ? state : { ...state, stop: { outcome: "cancelled", reason: OPERATOR_CANCELLED_REASON, step: event.data.step } };
    case "SagaRetryRequested":
      return state;
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
  const { compensations } = definitionOf(state);
  const undo = pendingUndo(state);
  const compensate = (step: SagaStep): SagaAction => ({ type: "Compensate", orderId, step, compensation: compensations[step]! });

  if (state.status === "ended") return state.outcome !== "confirmed" && undo ? compensate(undo) : null;
  if (outcomeOf(state)) return null;
  const next = nextStep(state);
  // Past its point of no return the order is confirmed: what is left is done, whatever else was asked meanwhile.
  if (next && pastPointOfNoReturn(state)) return forwardAction(next, state.order);
  if (state.cancellationRequested) return undo ? compensate(undo) : null;
  // The order is rejected before anything is undone: a confirmation racing a stop wins or loses there.
  const rejection = state.stop?.reason ?? state.failure?.reason;
  if (rejection) {
    if (!state.completed.includes("rejectOrder")) return { type: "RejectOrder", orderId, reason: rejection };
    return undo ? compensate(undo) : null;
  }
  return next ? forwardAction(next, state.order) : null;
}

function forwardAction(step: ForwardStep, order: SagaOrder): SagaAction {
  switch (step) {
    case "checkFraud":
      return { type: "CheckFraud", order };
    case "authorizePayment":
      return { type: "AuthorizePayment", order };
    case "confirmOrder":
      return { type: "ConfirmOrder", orderId: order.orderId };
    case "capturePayment":
      return { type: "CapturePayment", orderId: order.orderId };
    default: {
      const unknown: never = step;
      throw new Error(`unknown saga step ${JSON.stringify(unknown)}`);
    }
  }
}

/** The first step of its definition that it has not completed, or undefined when it completed them all. */
function nextStep(state: SagaRecord): ForwardStep | undefined {
  return definitionOf(state).steps.find((step) => !state.completed.includes(step));
}

/** Whether its order is settled confirmed: nothing is undone any more, what is left only goes forward. */
function pastPointOfNoReturn(state: SagaRecord): boolean {
  return state.completed.includes(definitionOf(state).pointOfNoReturn);
}

/** The step a saga waits on (the one its next action performs or undoes), or null when it has nothing to do. */
export function currentStep(state: OrderSaga): SagaStep | null {
  const action = nextAction(state);
  if (!action) return null;
  return action.type === "Compensate" ? action.step : STEP_OF_ACTION[action.type];
}

/**
 * When a saga that still moves forward must time out, and why: the earlier of its deadline and
 * its step's timeout (from its last progress); null when neither is set, or when it already
 * settles (a rejection, a cancellation, a stop under way) or has ended.
 */
export function dueOf(state: OrderSaga): { at: string; reason: TimeoutReason } | null {
  // Past its point of no return, a time limit could only reject an order that is confirmed already.
  if (state.status !== "running" || !movesForward(state) || pastPointOfNoReturn(state)) return null;
  const stepDue = state.stepTimeoutMs === null ? null : new Date(Date.parse(state.lastProgressAt) + state.stepTimeoutMs).toISOString();
  if (state.deadline !== null && (stepDue === null || Date.parse(state.deadline) <= Date.parse(stepDue)))
    return { at: state.deadline, reason: "DEADLINE_EXCEEDED" };
  return stepDue === null ? null : { at: stepDue, reason: "STEP_TIMED_OUT" };
}

/** Whether the saga still goes for a confirmation: nothing refused, cancelled or stopped. */
function movesForward(state: SagaRecord): boolean {
  return !state.failure && !state.cancellationRequested && !state.stop;
}

/** How a running saga ends once nothing is left to do, or null while something is. */
function outcomeOf(state: Extract<OrderSaga, { status: "running" }>): { outcome: SagaOutcome; reason: string | null } | null {
  if (pastPointOfNoReturn(state)) return nextStep(state) ? null : { outcome: "confirmed", reason: null };
  if (pendingUndo(state)) return null;
  if (state.cancellationRequested) return { outcome: "cancelled", reason: CANCELLED_REASON };
  if (state.stop && state.completed.includes("rejectOrder")) return { outcome: state.stop.outcome, reason: state.stop.reason };
  if (state.failure && state.completed.includes("rejectOrder")) return { outcome: "rejected", reason: state.failure.reason };
  return null;
}

/**
 * The latest step that may have happened and whose undo has not run: compensations run in
 * reverse. A step counts from the moment the saga could have asked for it, not from its
 * recorded success: a call whose answer was lost (a timeout) may still have done its work,
 * and undos are idempotent, so undoing what never happened costs nothing.
 */
function pendingUndo(state: SagaRecord): SagaStep | undefined {
  return mayHaveHappened(state)
    .reverse()
    .find((step) => definitionOf(state).compensations[step] && !state.compensated.includes(step));
}

/** The completed steps, and the step the saga asks for next unless it was refused. */
function mayHaveHappened(state: SagaRecord): SagaStep[] {
  const asked = nextStep(state);
  return asked && state.failure?.step !== asked ? [...state.completed, asked] : [...state.completed];
}

function started(state: OrderSaga, orderId: string): SagaRecord {
  if (state.status === "initial") throw new DomainError("SAGA_NOT_STARTED", `saga of order ${orderId} has not started`);
  return state;
}

/** A saga an operator can act on: started (else 404) and not ended (else 409). */
function operable(state: OrderSaga, orderId: string): Extract<OrderSaga, { status: "running" }> {
  if (state.status === "initial") throw new DomainError("SAGA_NOT_FOUND", `no saga has started for order ${orderId}`);
  if (state.status === "ended") throw new DomainError("SAGA_ENDED", `the saga of order ${orderId} has ended (${state.outcome})`, { outcome: state.outcome });
  return state;
}

import { OrderSaga, SagaAction, currentStep, nextAction } from "../../domain/order-saga";
import type * as saga from "../../domain/order-saga";

/** The participant's action each saga action calls. */
export const PARTICIPANT_ACTION = {
  CheckFraud: "antifraud.check",
  AuthorizePayment: "payments.authorize",
  ConfirmOrder: "orders.confirm",
  CapturePayment: "payments.capture",
  RejectOrder: "orders.reject",
  Compensate: "payments.void",
} as const satisfies Record<SagaAction["type"], string>;

export type StartedSaga = Exclude<OrderSaga, { status: "initial" }>;

/** What GET /api/sagas?status= takes. */
export const SAGA_STATUSES = ["running", "ended"] as const satisfies readonly StartedSaga["status"][];

/** One line of GET /api/sagas, and the head of GET /api/sagas/:orderId. */
export interface SagaSummary {
  orderId: string;
  status: StartedSaga["status"];
  outcome: saga.SagaOutcome | null;
  reason: string | null;
  /** The step it waits on; once ended, the last step it recorded. */
  step: saga.SagaStep | null;
  /** What it does or how it ended, in a few words: "waiting for payments.authorize", "timed out: DEADLINE_EXCEEDED". */
  why: string;
  startedAt: string;
  /** The version of the definition it runs. */
  definition: number;
  /** When it must have ended; null when it has no deadline (started with none, or before deadlines were recorded). */
  deadline: string | null;
  endedAt: string | null;
}

export const isStarted = (state: OrderSaga): state is StartedSaga => state.status !== "initial";

export function summaryOf(state: StartedSaga): SagaSummary {
  const ended = state.status === "ended";
  return {
    orderId: state.order.orderId,
    status: state.status,
    outcome: ended ? state.outcome : null,
    reason: ended ? state.reason : null,
    step: ended ? state.lastStep : currentStep(state),
    why: whyOf(state),
    startedAt: state.startedAt,
    definition: state.definition,
    deadline: state.deadline,
    endedAt: ended ? state.endedAt : null,
  };
}

const ENDED_AS: Record<saga.SagaOutcome, string> = { confirmed: "confirmed", rejected: "rejected", cancelled: "cancelled", "timed-out": "timed out" };

function whyOf(state: StartedSaga): string {
  if (state.status === "ended") return state.reason === null ? ENDED_AS[state.outcome] : `${ENDED_AS[state.outcome]}: ${state.reason}`;
  const action = nextAction(state);
  const doing =
    action === null
      ? "nothing left to do"
      : action.type === "Compensate"
        ? `compensating ${action.compensation}`
        : `waiting for ${PARTICIPANT_ACTION[action.type]}`;
  if (state.cancellationRequested) return `order cancelled; ${doing}`;
  if (state.stop) return `${ENDED_AS[state.stop.outcome]}: ${state.stop.reason}; ${doing}`;
  if (state.failure) return `refused: ${state.failure.reason}; ${doing}`;
  return doing;
}

const DURATION = /^(\d{1,12})(s|m|h|d)?$/;
const UNIT_MS: Readonly<Record<string, number>> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** The rule of a duration parameter: `30s`, `5m`, `2h`, `1d`, or milliseconds as an integer. */
export const durationRule = {
  type: "string",
  pattern: DURATION,
  messages: { stringPattern: "The '{field}' field must be a duration: 30s, 5m, 2h, 1d, or milliseconds as an integer." },
} as const;

/** Milliseconds of a duration that passed durationRule. */
export function durationMs(text: string): number {
  const [, amount = "0", unit] = DURATION.exec(text) ?? [];
  return Number(amount) * (unit === undefined ? 1 : (UNIT_MS[unit] ?? 1));
}

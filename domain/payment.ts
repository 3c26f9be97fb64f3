import { DomainError } from "./errors";

/** The decider of one order's payment: authorised once, declined once, then captured or voided at most once. */

export interface PaymentRequest {
  orderId: string;
  customerId: string;
  amount: number;
  currency: string;
}

export type PaymentCommand =
  | { type: "AuthorizePayment"; data: PaymentRequest & { limit: number }; metadata: { now: string } }
  | { type: "VoidPayment"; data: { orderId: string }; metadata: { now: string } }
  /** Takes the money authorised (a saga of definition v2 does once its order is confirmed). */
  | { type: "CapturePayment"; data: { orderId: string }; metadata: { now: string } };

export type PaymentDeclineReason = "AMOUNT_ABOVE_LIMIT";

export type PaymentEvent =
  | { type: "PaymentAuthorized"; data: PaymentRequest & { authorizedAt: string } }
  | { type: "PaymentDeclined"; data: PaymentRequest & { reason: PaymentDeclineReason; declinedAt: string } }
  | { type: "PaymentVoided"; data: { orderId: string; voidedAt: string } }
  | { type: "PaymentCaptured"; data: { orderId: string; capturedAt: string } };

export type Payment =
  | { status: "none" }
  | ({ status: "authorized"; authorizedAt: string } & PaymentRequest)
  | ({ status: "declined"; reason: PaymentDeclineReason; declinedAt: string } & PaymentRequest)
  | ({ status: "captured"; authorizedAt: string; capturedAt: string } & PaymentRequest)
  /** Voided after its authorisation, or before any (then no authorisation is taken any more). */
  | { status: "voided"; orderId: string; voidedAt: string; authorization: (PaymentRequest & { authorizedAt: string }) | null };

export function initialState(): Payment {
  return { status: "none" };
}

/**
 * Both commands are idempotent per order, because the saga may repeat a call whose answer
 * was lost: a second authorisation answers the first decision, a second void does nothing.
 * A void may also overtake the authorisation it undoes (the saga gave up waiting for it, the
 * call still arrived): it then bars that authorisation, so no money stays held.
 *
 * A capture takes an authorisation's money, once. A captured payment is not voided: the money
 * was taken for a confirmed order, and giving it back is a refund, not the undo of a hold; a
 * void that arrives after the capture (a stale retry) does nothing. Only an authorised payment
 * can be captured.
 */
export function decide(command: PaymentCommand, state: Payment): PaymentEvent[] {
  switch (command.type) {
    case "AuthorizePayment": {
      if (state.status !== "none") return [];
      const { limit, ...request } = command.data;
      if (request.amount > limit) {
        return [{ type: "PaymentDeclined", data: { ...request, reason: "AMOUNT_ABOVE_LIMIT", declinedAt: command.metadata.now } }];
      }
      return [{ type: "PaymentAuthorized", data: { ...request, authorizedAt: command.metadata.now } }];
    }
    case "VoidPayment":
      if (state.status === "declined" || state.status === "voided" || state.status === "captured") return [];
      return [{ type: "PaymentVoided", data: { orderId: command.data.orderId, voidedAt: command.metadata.now } }];
    case "CapturePayment":
      if (state.status === "captured") return [];
      if (state.status !== "authorized") {
        const { orderId } = command.data;
        throw new DomainError("PAYMENT_NOT_CAPTURABLE", `the payment of order ${orderId} is ${state.status}, not authorised`, { status: state.status });
      }
      return [{ type: "PaymentCaptured", data: { orderId: command.data.orderId, capturedAt: command.metadata.now } }];
    default: {
      const unknown: never = command;
      throw new Error(`unknown command ${JSON.stringify(unknown)}`);
    }
  }
}

export function evolve(state: Payment, event: PaymentEvent): Payment {
  switch (event.type) {
    case "PaymentAuthorized":
      return { status: "authorized", ...event.data };
    case "PaymentDeclined":
      return { status: "declined", ...event.data };
    case "PaymentVoided": {
      const { orderId, voidedAt } = event.data;
      if (state.status !== "authorized") return { status: "voided", orderId, voidedAt, authorization: null };
      const { status: _status, ...authorization } = state;
      return { status: "voided", orderId, voidedAt, authorization };
    }
    case "PaymentCaptured":
      return state.status === "authorized" ? { ...state, status: "captured", capturedAt: event.data.capturedAt } : state;
    default: {
      const unknown: never = event;
      throw new Error(`unknown event ${JSON.stringify(unknown)}`);
    }
  }
}

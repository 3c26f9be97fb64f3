import { randomUUID } from "node:crypto";
import { DeadLetterError, MAX_STACK_LENGTH } from "./port";

/** What the bus remembers about a message's failures, from the first to the latest. */
export interface FailureHistory {
  firstFailureAt: string;
  lastFailureAt: string;
  error: DeadLetterError;
  /** The delivery that failed last, which the next attempt retries. */
  deliveryId?: string;
}

/** 62 random bits in 16 hex digits (the tail of a v4 UUID): the shape of a W3C span id. */
export function newDeliveryId(): string {
  return randomUUID().slice(19).replace("-", "");
}

export function describeError(error: unknown): DeadLetterError {
  if (error instanceof Error) {
    return { name: error.name, message: error.message, stack: (error.stack ?? "").slice(0, MAX_STACK_LENGTH) };
  }
  return { name: "Error", message: String(error), stack: "" };
}

export function recordFailure(previous: FailureHistory | undefined, error: unknown, now: Date, deliveryId: string): FailureHistory {
  const at = now.toISOString();
  return { firstFailureAt: previous?.firstFailureAt ?? at, lastFailureAt: at, error: describeError(error), deliveryId };
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

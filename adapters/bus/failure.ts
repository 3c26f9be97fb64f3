import { DeadLetterError, MAX_STACK_LENGTH } from "./port";

/** What the bus remembers about a message's failures, from the first to the latest. */
export interface FailureHistory {
  firstFailureAt: string;
  lastFailureAt: string;
  error: DeadLetterError;
}

export function describeError(error: unknown): DeadLetterError {
  if (error instanceof Error) {
    return { name: error.name, message: error.message, stack: (error.stack ?? "").slice(0, MAX_STACK_LENGTH) };
  }
  return { name: "Error", message: String(error), stack: "" };
}

export function recordFailure(previous: FailureHistory | undefined, error: unknown, now: Date): FailureHistory {
  const at = now.toISOString();
  return { firstFailureAt: previous?.firstFailureAt ?? at, lastFailureAt: at, error: describeError(error) };
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

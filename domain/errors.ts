/**
 * A broken business rule. Its `code` is stable: the services turn it into a 4xx error with
 * that `type`, which is never retried and never counted by a circuit breaker.
 */
export class DomainError<Code extends string = string> extends Error {
  override readonly name = "DomainError";
  constructor(
    readonly code: Code,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

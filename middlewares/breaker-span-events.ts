import { CallingOptions, Errors, Middleware, ServiceBroker, Span } from "moleculer";

/** The span event of a call an open circuit breaker refused. */
export const BREAKER_REJECTED = "breaker.rejected";

/** The caller's span: a context's, or a span handed as parentSpan (the gateway hands a bare W3C parent, which has no log). */
function callerSpan(options: CallingOptions | undefined): Span | undefined {
  const span: unknown = options?.parentSpan ?? options?.parentCtx?.span;
  return span !== null && typeof span === "object" && typeof (span as Partial<Span>).log === "function" ? (span as Span) : undefined;
}

/**
 * A call refused by an open circuit breaker never reaches an action, so no span of Moleculer's
 * shows it: Moleculer refuses it in call(), before any middleware of the action, with
 * ServiceNotAvailableError (the only thing that marks a known endpoint unavailable is its
 * breaker). The refusal becomes an event of the caller's span, with the action it was for.
 */
export function BreakerSpanEventsMiddleware(): Middleware {
  return {
    name: "BreakerSpanEvents",
    call(next: ServiceBroker["call"]) {
      return ((actionName: string, params?: unknown, options?: CallingOptions) =>
        next(actionName, params, options).catch((error: unknown) => {
          if (error instanceof Errors.ServiceNotAvailableError) {
            callerSpan(options)?.log(BREAKER_REJECTED, { "breaker.action": actionName, "error.message": error.message });
          }
          throw error;
        })) as ServiceBroker["call"];
    },
    // Moleculer's typings have the `call` hook return a Promise; it returns the wrapped call.
  } as unknown as Middleware;
}

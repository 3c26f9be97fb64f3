import { ActionSchema, Context, Middleware, ServiceBroker } from "moleculer";

export interface JitteredRetryOptions {
  /** Calls again after the first one, at most. 0 turns the middleware off. */
  retries: number;
  /** Cap of the first retry's delay, in ms; each further retry doubles it (`factor`)... */
  delayMs: number;
  /** ...up to this cap. */
  maxDelayMs: number;
  factor: number;
  /** Which errors are worth another call: by default those marked retryable. */
  check?: (error: unknown) => boolean;
  /** The source of jitter; tests pass their own. */
  random?: () => number;
  /** How a delay is waited; tests pass one that records instead of waiting. */
  sleep?: (ms: number) => Promise<void>;
}

type Handler = (ctx: Context) => Promise<unknown>;
type RetriedContext = Context & { _retryAttempts?: number };

const isRetryable = (error: unknown) => Boolean((error as { retryable?: boolean } | undefined)?.retryable);
const sleepUnref = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

/**
 * The delay before retry number `attempt` (1-based): uniform in [0, min(max, delay * factor^(attempt-1))].
 * Full jitter spreads the retries of calls that failed together, where Moleculer's own
 * retry waits exactly the same delay for all of them and sends them back in a wave.
 */
export function jitteredDelay(attempt: number, options: JitteredRetryOptions, random: () => number = Math.random): number {
  const cap = Math.min(options.maxDelayMs, options.delayMs * options.factor ** (attempt - 1));
  return Math.floor(random() * cap);
}

/**
 * Moleculer's retry policy with full jitter. It stands where the built-in Retry middleware
 * stands (the broker's middleware list in moleculer.config.ts replaces "Retry" with it), so
 * that each attempt passes through the circuit breaker and the timeout, as built-in retries do.
 */
export function JitteredRetryMiddleware(options: JitteredRetryOptions): Middleware {
  const check = options.check ?? isRetryable;
  const random = options.random ?? Math.random;
  const sleep = options.sleep ?? sleepUnref;

  // Moleculer calls the hook with the broker as `this`.
  function wrap(this: ServiceBroker, handler: Handler, action: ActionSchema): Handler {
    if (options.retries <= 0) return handler;
    const broker = this;
    const actionName = action.name!;
    return async function jitteredRetry(ctx: RetriedContext): Promise<unknown> {
      const retries = typeof ctx.options.retries === "number" ? ctx.options.retries : options.retries;
      ctx._retryAttempts ??= 0;
      try {
        return await handler(ctx);
      } catch (error) {
        // A remote call is retried by its caller's node, which wraps remoteAction too.
        if (ctx.nodeID !== broker.nodeID && ctx.endpoint?.local) throw error;
        if (!check(error) || ctx._retryAttempts >= retries) throw error;
        ctx._retryAttempts += 1;
        const delay = jitteredDelay(ctx._retryAttempts, options, random);
        broker.logger.warn(`Retry ${ctx._retryAttempts}/${retries} of '${actionName}' in ${delay} ms: ${(error as Error).message}`);
        await sleep(delay);
        const next = ctx.copy() as RetriedContext;
        next._retryAttempts = ctx._retryAttempts;
        return broker.call(actionName, ctx.params, { ctx: next });
      }
    };
  }

  return { localAction: wrap, remoteAction: wrap };
}

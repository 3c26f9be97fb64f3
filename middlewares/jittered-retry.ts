import { ActionSchema, Context, Errors, Middleware, ServiceBroker } from "moleculer";

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
  /** Which of those reached no handler, and wait for delivery without spending a retry: by default {@link isUndelivered}. */
  undelivered?: (error: unknown, action: string) => boolean;
  /** The source of jitter; tests pass their own. */
  random?: () => number;
  /** How a delay is waited; tests pass one that records instead of waiting. */
  sleep?: (ms: number) => Promise<void>;
  /** The clock of deadlines, in ms; tests pass their own. */
  now?: () => number;
}

type Handler = (ctx: Context) => Promise<unknown>;
/** `_retryAttempt` marks a context as one attempt of a retry loop further out. */
type RetriedContext = Context & { _retryAttempt?: number };

const isRetryable = (error: unknown) => Boolean((error as { retryable?: boolean } | undefined)?.retryable);
const sleepUnref = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

/**
 * Errors that say a call reached no handler, raised on this node (an error from another node
 * carries its nodeID): Moleculer's transit refuses to send while the transporter reconnects
 * (BrokerDisconnectedError, 502), and no endpoint serves the action right now (its node
 * vanished, or its breaker is open). Waiting and calling again cannot run the action twice.
 */
export function isUndelivered(error: unknown, action: string): boolean {
  if (!(error instanceof Errors.MoleculerError) || (error as { nodeID?: string }).nodeID !== undefined) return false;
  if (error instanceof Errors.BrokerDisconnectedError) return true;
  const missing = error instanceof Errors.ServiceNotAvailableError || error instanceof Errors.ServiceNotFoundError;
  return missing && (error.data as { action?: string } | undefined)?.action === action;
}

/**
 * The delay before retry number `attempt` (1-based): uniform in [0, min(max, delay * factor^(attempt-1))].
 * Full jitter spreads the retries of calls that failed together, where Moleculer's own
 * retry waits exactly the same delay for all of them and sends them back in a wave.
 */
export function jitteredDelay(
  attempt: number,
  options: Pick<JitteredRetryOptions, "delayMs" | "maxDelayMs" | "factor">,
  random: () => number = Math.random,
): number {
  const cap = Math.min(options.maxDelayMs, options.delayMs * options.factor ** (attempt - 1));
  return Math.floor(random() * cap);
}

/**
 * Moleculer's retry policy with full jitter. It stands where the built-in Retry middleware
 * stands (the broker's middleware list in moleculer.config.ts replaces "Retry" with it), so
 * that each attempt passes through the circuit breaker and the timeout, as built-in retries do.
 *
 * - A failure that may have reached the action (a timeout, a 5xx) is retried up to `retries`
 *   times, each retry a call with its own timeout.
 * - A failure that reached nothing ({@link isUndelivered}: RabbitMQ restarting) is retried
 *   until the call's timeout has passed, with growing jittered delays, without spending a
 *   retry: a broker restart shorter than the timeout costs the caller a wait, not an error.
 *   A call still undelivered when its timeout passes has failed as a timed-out call has, and
 *   the next retry (if any is left) is a call with a timeout of its own. So a caller waits at
 *   most (retries + 1) timeouts and the delays between them, as before.
 * - An error is retried by the call it came from only: a handler that fails because a call
 *   it made failed is not run again for it (that call had its retries), and an action that
 *   cannot be called through the broker (moleculer-web's private `rest`) is left alone.
 */
export function JitteredRetryMiddleware(options: JitteredRetryOptions): Middleware {
  const check = options.check ?? isRetryable;
  const undelivered = options.undelivered ?? isUndelivered;
  const random = options.random ?? Math.random;
  const sleep = options.sleep ?? sleepUnref;
  const now = options.now ?? (() => performance.now());
  /** Errors a retry loop gave up on (or was told not to retry): loops further out pass them on. */
  const givenUp = new WeakSet<object>();
  const giveUp = (error: unknown): unknown => {
    if (typeof error === "object" && error !== null) givenUp.add(error);
    return error;
  };
  const givenUpOn = (error: unknown) => typeof error === "object" && error !== null && givenUp.has(error);

  // Moleculer calls the hook with the broker as `this`.
  function wrap(this: ServiceBroker, handler: Handler, action: ActionSchema): Handler {
    if (options.retries <= 0 || action.visibility === "private") return handler;
    const broker = this;
    const actionName = action.name!;
    return async function jitteredRetry(ctx: RetriedContext): Promise<unknown> {
      // An attempt of a loop further out, or a call from another node (that node retries it).
      if (ctx._retryAttempt !== undefined || (ctx.nodeID !== broker.nodeID && ctx.endpoint?.local)) return handler(ctx);
      const retries = typeof ctx.options.retries === "number" ? ctx.options.retries : options.retries;
      let attempt: RetriedContext = ctx;
      let spent = 0;
      let waits = 0;
      // The deadline of the current call: renewed by each retry, not by a wait for delivery.
      let calledAt = now();
      for (;;) {
        try {
          return await (attempt === ctx ? handler(ctx) : broker.call(actionName, ctx.params, { ctx: attempt }));
        } catch (error) {
          if (retries <= 0 || givenUpOn(error) || !check(error)) throw giveUp(error);
          let callOptions = ctx.options;
          const left = calledAt + budgetOf(ctx, broker) - now();
          if (undelivered(error, actionName) && left > 0) {
            waits += 1;
            const delay = Math.min(left, jitteredDelay(waits, options, random));
            const log = waits === 1 ? broker.logger.warn : broker.logger.debug;
            log.call(broker.logger, `'${actionName}' not delivered (${(error as Error).message}); calling again in ${delay} ms, for ${Math.round(left)} ms more at most`);
            await sleep(delay);
            // The wait counts against the call's timeout: the next attempt has what is left of it.
            const rest = Math.max(1, Math.round(calledAt + budgetOf(ctx, broker) - now()));
            if ((ctx.options.timeout ?? 0) > 0) callOptions = { ...ctx.options, timeout: rest };
          } else {
            // Also a call whose timeout passed before it could be delivered: it failed as a timeout does.
            if (spent >= retries) throw giveUp(error);
            spent += 1;
            const delay = jitteredDelay(spent, options, random);
            broker.logger.warn(`Retry ${spent}/${retries} of '${actionName}' in ${delay} ms: ${(error as Error).message}`);
            await sleep(delay);
            calledAt = now();
          }
          attempt = ctx.copy() as RetriedContext;
          // Options of its own: a shortened timeout is this attempt's, not the caller's.
          attempt.options = { ...callOptions };
          attempt._retryAttempt = spent + waits;
        }
      }
    };
  }

  return { localAction: wrap, remoteAction: wrap };
}

/**
 * How long a call may wait for delivery, in ms: its timeout (Moleculer's Timeout middleware
 * sets the broker's requestTimeout on the first attempt when the caller gave none), else the
 * broker's requestTimeout; unbounded when neither is set.
 */
function budgetOf(ctx: Context, broker: ServiceBroker): number {
  const timeout = ctx.options.timeout || broker.options.requestTimeout || 0;
  return timeout > 0 ? timeout : Number.POSITIVE_INFINITY;
}

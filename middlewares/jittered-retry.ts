import { ActionSchema, Context, Errors, METRIC, Middleware, ServiceBroker } from "moleculer";
import { Backoff, fullJitter } from "../adapters/bus/full-jitter";

/** The broker's retry policy: an action's own `retryPolicy` overrides it field by field. */
export interface JitteredRetryOptions extends Backoff {
  /** Calls again after the first one, at most. 0 turns retries off but for actions whose own retryPolicy enables them. */
  retries: number;
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
/** Moleculer's action definitions carry the action's name within its service, which the typings leave out. */
type RetriedAction = ActionSchema & { rawName?: string };
/** Another call after `delay` ms: a wait for delivery (with `left` ms of the call's timeout to go) or a retry. */
interface Step {
  delay: number;
  left?: number;
}
/** Decides, once per failed attempt, whether another call follows (null: none). */
type Judge = (error: unknown, attempt: Context) => Step | null;
/** `_retryJudge` marks a context as one attempt of a retry loop further out. */
type RetriedContext = Context & { _retryJudge?: Judge };
interface Policy extends Backoff {
  enabled: boolean;
  retries: number;
  check: (error: unknown) => boolean;
}

const RETRY_METRIC = METRIC.MOLECULER_REQUEST_RETRY_ATTEMPTS_TOTAL;
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

/** The delay before retry number `attempt`: {@link fullJitter}, under the name this module has always exported. */
export { fullJitter as jitteredDelay };

/**
 * Moleculer's retry policy with full jitter. It stands where the built-in Retry middleware
 * stands (the broker's middleware list in moleculer.config.ts replaces "Retry" with it), so
 * that each attempt passes through the circuit breaker and the timeout, as built-in retries do.
 * It keeps what Moleculer's own does (src/middlewares/retry.js in 0.15): an action's own
 * `retryPolicy`, the moleculer.request.retry.attempts.total counter, a retried attempt's span
 * ended as failed, a private action called again through its service. Full jitter spreads
 * the retries of calls that failed together, where Moleculer's retry waits the same delay
 * for all of them and sends them back in a wave.
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
 *   it made failed is not run again for it (that call had its retries). Moleculer's retry
 *   runs it again, and so multiplies the retries of nested calls.
 */
export function JitteredRetryMiddleware(options: JitteredRetryOptions): Middleware {
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
  function wrap(this: ServiceBroker, handler: Handler, action: RetriedAction): Handler {
    const policy = policyOf(options, action);
    if (!policy.enabled) return handler;
    const broker = this;
    const actionName = action.name!;
    const labels = { service: action.service?.fullName ?? null, action: actionName };
    // The broker does not know a private action: it is called again through its service
    // (which takes the params from the context it is given). A call directed at one node
    // (`nodeID`) is retried on that node: given only the context, the broker would balance the
    // retry to any node, and another node's answer would pass for the one asked (Moleculer's
    // own Retry does so).
    const call = (attempt: Context) =>
      action.visibility === "private"
        ? action.service!.actions[action.rawName!]!(undefined, { ctx: attempt })
        : broker.call(actionName, attempt.params, { ctx: attempt, ...(attempt.options.nodeID === undefined ? {} : { nodeID: attempt.options.nodeID }) });

    return async function jitteredRetry(ctx: RetriedContext): Promise<unknown> {
      const judgeOuter = ctx._retryJudge;
      // An attempt of a loop further out: judged here, while its span is still open.
      if (judgeOuter) {
        return handler(ctx).catch((error: unknown) => {
          judgeOuter(error, ctx);
          throw error;
        });
      }
      // A call from another node: that node retries it.
      if (ctx.nodeID !== broker.nodeID && ctx.endpoint?.local) return handler(ctx);
      const retries = typeof ctx.options.retries === "number" ? ctx.options.retries : policy.retries;
      let spent = 0;
      let waits = 0;
      // The deadline of the current call: renewed by each retry, not by a wait for delivery.
      let calledAt = now();
      let judged: { attempt: Context; step: Step | null } | undefined;

      const decide = (error: unknown): Step | null => {
        if (givenUpOn(error) || !policy.check(error)) return null;
        // Counted as Moleculer counts it: every retryable failure, the one given up on included.
        if (broker.isMetricsEnabled()) broker.metrics.increment(RETRY_METRIC, labels);
        if (retries <= 0) return null;
        const left = calledAt + budgetOf(ctx, broker) - now();
        if (undelivered(error, actionName) && left > 0) {
          waits += 1;
          return { delay: Math.min(left, fullJitter(waits, policy, random)), left };
        }
        // Also a call whose timeout passed before it could be delivered: it failed as a timeout does.
        if (spent >= retries) return null;
        spent += 1;
        return { delay: fullJitter(spent, policy, random) };
      };
      // Once per attempt: an attempt's failure is judged inside its own middlewares (above),
      // then reaches the loop.
      const judge: Judge = (error, attempt) => {
        if (judged?.attempt !== attempt) {
          judged = { attempt, step: decide(error) };
          if (judged.step) endSpan(attempt, error, spent + waits);
        }
        return judged.step;
      };

      let attempt: RetriedContext = ctx;
      for (;;) {
        try {
          return await (attempt === ctx ? handler(ctx) : call(attempt));
        } catch (error) {
          const step = judge(error, attempt);
          if (!step) throw giveUp(error);
          let callOptions = ctx.options;
          if (step.left !== undefined) {
            const log = waits === 1 ? broker.logger.warn : broker.logger.debug;
            log.call(
              broker.logger,
              `'${actionName}' not delivered (${(error as Error).message}); calling again in ${step.delay} ms, for ${Math.round(step.left)} ms more at most`,
            );
            await sleep(step.delay);
            // The wait counts against the call's timeout: the next attempt has what is left of it.
            const rest = Math.max(1, Math.round(calledAt + budgetOf(ctx, broker) - now()));
            if ((ctx.options.timeout ?? 0) > 0) callOptions = { ...ctx.options, timeout: rest };
          } else {
            broker.logger.warn(`Retry ${spent}/${retries} of '${actionName}' in ${step.delay} ms: ${(error as Error).message}`);
            await sleep(step.delay);
            calledAt = now();
          }
          attempt = ctx.copy() as RetriedContext;
          // Options of its own: a shortened timeout is this attempt's, not the caller's.
          attempt.options = { ...callOptions };
          attempt._retryJudge = judge;
        }
      }
    };
  }

  return {
    created(broker) {
      if (!broker.isMetricsEnabled()) return;
      broker.metrics.register({
        name: RETRY_METRIC,
        type: METRIC.TYPE_COUNTER,
        labelNames: ["service", "action"],
        description: "Number of retries",
        rate: true,
      });
    },
    localAction: wrap,
    remoteAction: wrap,
  };
}

/**
 * An action's own retryPolicy over the middleware's options, field by field, as Moleculer
 * merges it over the broker's. A private action is retried only when its own policy enables
 * it, where Moleculer retries every one: the only private action in this cluster is
 * moleculer-web's `rest`, and calling it again would route an HTTP request a second time,
 * with the url its first routing rewrote (req.url loses the route's path) and a response it
 * may have begun; and it throws retryable errors of its own (ServiceNotFoundError for an
 * alias to an unpublished action).
 */
function policyOf(options: JitteredRetryOptions, action: RetriedAction): Policy {
  const own = action.retryPolicy ?? {};
  const ownCheck = own.check;
  return {
    enabled: own.enabled ?? (options.retries > 0 && action.visibility !== "private"),
    retries: own.retries ?? options.retries,
    delayMs: own.delay ?? options.delayMs,
    maxDelayMs: own.maxDelay ?? options.maxDelayMs,
    factor: own.factor ?? options.factor,
    check: ownCheck ? (error) => ownCheck(error as Error) : (options.check ?? isRetryable),
  };
}

/**
 * Ends the span of an attempt another call follows, as Moleculer's retry does: failed, and
 * tagged with the number of that call, so that a trace shows each attempt's own outcome and
 * time instead of one span, successful or not, around them all.
 */
function endSpan(attempt: Context, error: unknown, retryAttempts: number): void {
  const span = attempt.span;
  if (!span?.isActive()) return;
  span.setError(error as Error);
  span.addTags({ retryAttempts });
  attempt.finishSpan(span);
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

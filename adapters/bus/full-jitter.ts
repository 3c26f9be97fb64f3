/** Exponential backoff: the cap of the first delay, its growth per attempt, and the cap of the growth. */
export interface Backoff {
  /** Cap of the first delay, in ms; each further attempt multiplies it by `factor`... */
  delayMs: number;
  /** ...up to this cap. */
  maxDelayMs: number;
  factor: number;
}

/**
 * The delay before attempt number `attempt` (1-based) again after a failure: uniform in
 * [0, min(maxDelayMs, delayMs * factor^(attempt-1))] (AWS Architecture Blog, "Exponential
 * Backoff And Jitter"). Callers that failed together spread their next attempts instead of
 * coming back in a wave, as they do after a fixed delay. The RPC retry, the bus's
 * redeliveries and the transporter's reconnection all draw from this one function, which
 * imports nothing, so that any layer may use it.
 */
export function fullJitter(attempt: number, backoff: Backoff, random: () => number = Math.random): number {
  const cap = Math.min(backoff.maxDelayMs, backoff.delayMs * backoff.factor ** (attempt - 1));
  return Math.floor(random() * cap);
}

import { ServiceBroker } from "moleculer";
import { BusLogger } from "../../adapters/bus/logger";
import { Consumer } from "../../adapters/bus/port";
import { breakersOf } from "../resilience/breakers";

/** What this node's circuit breakers let through to an action. */
export type BreakerGate = "closed" | "half-open" | "open";

/**
 * The breakers of this node's calls to `action`, one per endpoint: "closed" when one of them
 * lets calls through (or none has been made yet); "half-open" when one lets the next call
 * through as its trial; else "open": every breaker is open, or has its trial call under way
 * (HALF_OPEN_WAIT), and each will say when that changes with a `$circuit-breaker.*` event
 * (half-opened after halfOpenTime, closed or opened after the trial).
 */
export function breakerGate(broker: ServiceBroker, action: string): BreakerGate {
  const states = breakersOf(broker)
    .filter((breaker) => breaker.endpoint.action === action)
    .map((breaker) => breaker.state);
  if (states.length === 0 || states.includes("closed")) return "closed";
  if (states.includes("half-open")) return "half-open";
  return "open";
}

export interface KillSwitchOptions {
  consumer: Consumer;
  /** The consumer's queue, for the log. */
  queue: string;
  gate: (action: string) => BreakerGate;
  /**
   * A pause ends after this long even if no breaker event came (one that was missed, or a
   * breaker state dropped by the window reset): at worst one prefetch of messages is handed
   * back again.
   */
  maxPauseMs: number;
  logger: BusLogger;
}

/**
 * MassTransit's kill switch on a Moleculer circuit breaker: a message whose call failed while
 * the participant's breaker was not closed goes back to the queue without spending an attempt
 * (the failure says nothing about the message), and while the breaker is open the consumer
 * stops taking messages; it takes them again when the breaker half-opens or closes, so that
 * a replay right after a fix, or work that arrived during the outage, is not dead-lettered.
 *
 * It converges: the consumer pauses only in a state that a breaker event ends (open, or a
 * trial call under way), and after maxPauseMs in any case. In HALF_OPEN (the trial not
 * started yet, no event to come) the message goes back and the consumer keeps running: the
 * next delivery makes the trial call.
 */
export class KillSwitch {
  private readonly waitingFor = new Set<string>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: KillSwitchOptions) {}

  /** After a call to `action` failed: true when the message must go back without an attempt. */
  blocks(action: string): boolean {
    const gate = this.options.gate(action);
    if (gate === "closed") return false;
    if (gate === "open") this.trip(action);
    return true;
  }

  /** This node's breaker of `action` half-opened or closed. */
  letsThrough(action: string): void {
    if (!this.waitingFor.delete(action) || this.waitingFor.size > 0) return;
    this.restart(`the circuit breaker of ${action} lets calls through`);
  }

  get paused(): boolean {
    return this.waitingFor.size > 0;
  }

  stop(): void {
    clearTimeout(this.timer);
    this.waitingFor.clear();
  }

  private trip(action: string): void {
    const running = this.waitingFor.size === 0;
    this.waitingFor.add(action);
    if (!running) return;
    const { consumer, queue, logger, maxPauseMs } = this.options;
    logger.warn(`kill switch: the circuit breaker of ${action} is open; ${queue} pauses until it half-opens`);
    consumer.pause().catch((error: unknown) => logger.warn(`kill switch: pausing ${queue} failed: ${(error as Error).message}`));
    this.timer = setTimeout(() => this.restart(`no breaker event within ${maxPauseMs} ms`), maxPauseMs);
    this.timer.unref();
  }

  private restart(why: string): void {
    clearTimeout(this.timer);
    this.waitingFor.clear();
    const { consumer, queue, logger } = this.options;
    logger.info(`kill switch: ${queue} resumes: ${why}`);
    consumer.resume().catch((error: unknown) => logger.warn(`kill switch: resuming ${queue} failed: ${(error as Error).message}`));
  }
}

import { ServiceBroker } from "moleculer";

export type BreakerState = "closed" | "open" | "half-open" | "half-open-wait";

export interface BreakerReport {
  /** The node the breaker guards calls to, and the action. */
  endpoint: { nodeID: string; action: string };
  state: BreakerState;
  /** Calls and failures counted in the current window. */
  count: number;
  failures: number;
}

const STATE_NAMES = { close: "closed", open: "open", half_open: "half-open", half_open_wait: "half-open-wait" } as const;

/** An entry of Moleculer's circuit breaker store, as far as we read it. */
interface BreakerStoreItem {
  ep: { id: string; action: { name: string } };
  state: keyof typeof STATE_NAMES;
  count: number;
  failures: number;
}

function isBreakerStoreItem(value: unknown): value is BreakerStoreItem {
  if (typeof value !== "object" || value === null) return false;
  const { ep, state, count, failures } = value as Record<string, unknown>;
  if (typeof ep !== "object" || ep === null) return false;
  const { id, action } = ep as Record<string, unknown>;
  return (
    typeof id === "string" &&
    typeof action === "object" &&
    action !== null &&
    typeof (action as Record<string, unknown>).name === "string" &&
    typeof state === "string" &&
    state in STATE_NAMES &&
    typeof count === "number" &&
    typeof failures === "number"
  );
}

/**
 * This node's circuit breakers (they live on the calling side), from the store that Moleculer's
 * CircuitBreaker middleware hangs on the broker (`broker.CircuitBreakerStore`, 0.14 and 0.15).
 * Its `$circuit-breaker.*` events tell each transition, but neither the counts of the current
 * window nor a trial call under way (HALF_OPEN_WAIT), which the kill switch must tell apart from
 * HALF_OPEN, and no public API gives them. So this is the one place that reads the store, and a
 * shape it does not know fails loudly rather than passing for "no breaker".
 */
export function breakersOf(broker: ServiceBroker): BreakerReport[] {
  const store: unknown = Reflect.get(broker, "CircuitBreakerStore");
  // Absent when the circuit breaker is disabled: then no call is ever refused by one.
  if (store === undefined) return [];
  if (!(store instanceof Map)) throw new TypeError("broker.CircuitBreakerStore is not the Map this Moleculer version used to keep");
  return [...(store as Map<string, unknown>).values()].map((item) => {
    if (!isBreakerStoreItem(item)) throw new TypeError("an entry of Moleculer's circuit breaker store has a shape this code does not know");
    return { endpoint: { nodeID: item.ep.id, action: item.ep.action.name }, state: STATE_NAMES[item.state], count: item.count, failures: item.failures };
  });
}

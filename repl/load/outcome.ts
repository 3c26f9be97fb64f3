import { PlacedOrder } from "../../services/orders.service";

/** Where one order of a load run ended. */
export type Outcome =
  | { kind: "confirmed" }
  | { kind: "rejected"; reason: string }
  | { kind: "cancelled"; reason: string | null }
  /** Still pending: its OrderCreated is in the dead-letter queue, waiting for a replay. */
  | { kind: "dead-lettered" }
  /** Still pending when the wait ended. */
  | { kind: "pending" }
  /** orders.create failed. */
  | { kind: "not placed"; reason: string };

/** The outcome of a settled order; undefined while it is pending. */
export function settledOutcome(order: PlacedOrder): Outcome | undefined {
  switch (order.status) {
    case "pending":
      return undefined;
    case "confirmed":
      return { kind: "confirmed" };
    case "rejected":
      return { kind: "rejected", reason: order.reason };
    case "cancelled":
      return { kind: "cancelled", reason: order.reason };
  }
}

function labelOf(outcome: Outcome): [label: string, reason: string] {
  switch (outcome.kind) {
    case "confirmed":
      return ["confirmed", ""];
    case "rejected":
      return ["rejected", outcome.reason];
    case "cancelled":
      return ["cancelled", outcome.reason ?? ""];
    case "dead-lettered":
      return ["pending, dead-lettered", "see dlq list"];
    case "pending":
      return ["still pending", ""];
    case "not placed":
      return ["not placed", outcome.reason];
  }
}

/** Rows of outcome, reason and count, the most frequent first. */
export function tally(outcomes: Iterable<Outcome>): [string, string, number][] {
  const counts = new Map<string, [string, string, number]>();
  for (const outcome of outcomes) {
    const [label, reason] = labelOf(outcome);
    const key = `${label}\n${reason}`;
    const row = counts.get(key) ?? [label, reason, 0];
    row[2] += 1;
    counts.set(key, row);
  }
  return [...counts.values()].sort((a, b) => b[2] - a[2]);
}

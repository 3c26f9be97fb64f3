/** The antifraud rules: pure, so that the same order always gets the same answer. */

export interface FraudCheckRequest {
  orderId: string;
  customerId: string;
  total: number;
  currency: string;
}

export interface FraudPolicy {
  /** Orders above this total, in minor units, are refused. */
  maxTotal: number;
  blockedCustomers: ReadonlySet<string>;
}

export type FraudRejectionReason = "CUSTOMER_BLOCKED" | "TOTAL_ABOVE_LIMIT";

export type FraudDecision = { decision: "approved"; reason: null } | { decision: "rejected"; reason: FraudRejectionReason };

export function assess(request: FraudCheckRequest, policy: FraudPolicy): FraudDecision {
  if (policy.blockedCustomers.has(request.customerId)) return { decision: "rejected", reason: "CUSTOMER_BLOCKED" };
  if (request.total > policy.maxTotal) return { decision: "rejected", reason: "TOTAL_ABOVE_LIMIT" };
  return { decision: "approved", reason: null };
}

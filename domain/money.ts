import { DomainError } from "./errors";

/** An amount in minor units (cents) of an ISO 4217 currency: integers only, never floats. */
export interface Money {
  amount: number;
  currency: string;
}

const CURRENCY = /^[A-Z]{3}$/;

export function isCurrency(code: string): boolean {
  return CURRENCY.test(code);
}

/** Sums products of integers, refusing a total that a JSON number cannot hold exactly. */
export function sumOfProducts(lines: readonly { quantity: number; unitPrice: number }[]): number {
  const total = lines.reduce((sum, line) => sum + line.quantity * line.unitPrice, 0);
  if (!Number.isSafeInteger(total)) {
    throw new DomainError("ORDER_TOTAL_TOO_LARGE", "the order total exceeds the largest exact amount", {
      limit: Number.MAX_SAFE_INTEGER,
    });
  }
  return total;
}

import { CreateOrderParams } from "../../services/orders.service";

const PRODUCTS = ["book", "lamp", "mug", "pen", "chair", "plant"] as const;
const CUSTOMERS = 20;
/** Share of orders whose total is above the payments limit: they end PAYMENT_DECLINED. */
const DECLINED_SHARE = 0.1;
/** Highest unit price of an ordinary order: 3 lines of 3 stay far below the default limit (500,000). */
const MAX_UNIT_PRICE = 20_000;

const between = (min: number, max: number, random: () => number) => min + Math.floor(random() * (max - min + 1));

/**
 * An order of a random customer: most with totals the saga confirms, a few above
 * `paymentsLimit` (PAYMENTS_LIMIT) that the payment step declines.
 */
export function randomOrder(paymentsLimit: number, random: () => number = Math.random): CreateOrderParams {
  const customerId = `load-${between(1, CUSTOMERS, random)}`;
  if (random() < DECLINED_SHARE) {
    return { customerId, currency: "EUR", items: [{ productId: "sofa", quantity: 1, unitPrice: paymentsLimit + between(1, 100_000, random) }] };
  }
  const items = Array.from({ length: between(1, 3, random) }, () => ({
    productId: PRODUCTS[between(0, PRODUCTS.length - 1, random)]!,
    quantity: between(1, 3, random),
    unitPrice: between(100, MAX_UNIT_PRICE, random),
  }));
  return { customerId, currency: "EUR", items };
}

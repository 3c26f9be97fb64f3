import { ORDER_LIMITS } from "../../domain/order";
import { typedText } from "./typed-text";

/**
 * What orders.create accepts and what an OrderCreated holds, as fastest-validator rules: one
 * rule for both, so that a dead letter's edit (services/dlq/event-schemas.ts) is checked as a
 * new order is.
 */
export const CURRENCY_RULE = {
  type: "string",
  pattern: /^[A-Z]{3}$/,
  messages: { stringPattern: "The '{field}' field must be an ISO 4217 code of three capital letters." },
} as const;

export const ORDER_ITEMS_RULE = {
  type: "array",
  min: ORDER_LIMITS.minItems,
  max: ORDER_LIMITS.maxItems,
  items: {
    type: "object",
    strict: true,
    props: {
      productId: typedText(ORDER_LIMITS.maxIdLength),
      quantity: { type: "number", integer: true, min: ORDER_LIMITS.minQuantity, max: ORDER_LIMITS.maxQuantity },
      unitPrice: { type: "number", integer: true, min: 0, max: Number.MAX_SAFE_INTEGER },
    },
  },
} as const;

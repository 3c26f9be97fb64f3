import { DomainError } from "./errors";
import { isCurrency, sumOfProducts } from "./money";

/** The decider of one order: every change of an order is one of these events. */

export interface OrderLine {
  productId: string;
  quantity: number;
  /** Minor units of the order's currency. */
  unitPrice: number;
}

export const ORDER_LIMITS = {
  minItems: 1,
  maxItems: 100,
  minQuantity: 1,
  maxQuantity: 1000,
  maxIdLength: 64,
  maxReasonLength: 500,
} as const;

/** Time comes in with each command, never from a clock inside the domain. */
export interface CommandMetadata {
  now: string;
}

export type OrderCommand =
  | {
      type: "CreateOrder";
      data: { orderId: string; customerId: string; currency: string; items: OrderLine[] };
      metadata: CommandMetadata;
    }
  | { type: "ConfirmOrder"; data: { orderId: string }; metadata: CommandMetadata }
  | { type: "RejectOrder"; data: { orderId: string; reason: string }; metadata: CommandMetadata }
  | { type: "CancelOrder"; data: { orderId: string; reason?: string }; metadata: CommandMetadata };

export type OrderEvent =
  | {
      type: "OrderCreated";
      data: {
        orderId: string;
        customerId: string;
        currency: string;
        items: OrderLine[];
        total: number;
        createdAt: string;
      };
    }
  | { type: "OrderConfirmed"; data: { orderId: string; confirmedAt: string } }
  | { type: "OrderRejected"; data: { orderId: string; reason: string; rejectedAt: string } }
  | { type: "OrderCancelled"; data: { orderId: string; reason: string | null; cancelledAt: string } };

export type OrderEventType = OrderEvent["type"];

interface PlacedOrder {
  id: string;
  customerId: string;
  currency: string;
  items: OrderLine[];
  total: number;
  createdAt: string;
}

export type Order =
  | { status: "initial" }
  | ({ status: "pending" } & PlacedOrder)
  | ({ status: "confirmed"; confirmedAt: string } & PlacedOrder)
  | ({ status: "rejected"; reason: string; rejectedAt: string } & PlacedOrder)
  | ({ status: "cancelled"; reason: string | null; cancelledAt: string } & PlacedOrder);

export type OrderStatus = Order["status"];
export type TerminalStatus = "confirmed" | "rejected" | "cancelled";

export type OrderErrorCode =
  | "INVALID_ORDER"
  | "ORDER_TOTAL_TOO_LARGE"
  | "ORDER_ALREADY_EXISTS"
  | "ORDER_NOT_FOUND"
  | "ORDER_ALREADY_CONFIRMED"
  | "ORDER_ALREADY_REJECTED"
  | "ORDER_ALREADY_CANCELLED";

export function initialState(): Order {
  return { status: "initial" };
}

export function decide(command: OrderCommand, state: Order): OrderEvent[] {
  switch (command.type) {
    case "CreateOrder": {
      if (state.status !== "initial") {
        throw new DomainError<OrderErrorCode>("ORDER_ALREADY_EXISTS", `order ${state.id} already exists`);
      }
      const { orderId, customerId, currency, items } = command.data;
      validatePlacement(command.data);
      return [
        {
          type: "OrderCreated",
          data: {
            orderId,
            customerId,
            currency,
            items: items.map(({ productId, quantity, unitPrice }) => ({ productId, quantity, unitPrice })),
            total: sumOfProducts(items),
            createdAt: command.metadata.now,
          },
        },
      ];
    }
    case "ConfirmOrder": {
      const order = pendingOrder(state, command.data.orderId);
      return [{ type: "OrderConfirmed", data: { orderId: order.id, confirmedAt: command.metadata.now } }];
    }
    case "RejectOrder": {
      const order = pendingOrder(state, command.data.orderId);
      validateReason(command.data.reason, true);
      return [
        {
          type: "OrderRejected",
          data: { orderId: order.id, reason: command.data.reason, rejectedAt: command.metadata.now },
        },
      ];
    }
    case "CancelOrder": {
      const order = pendingOrder(state, command.data.orderId);
      validateReason(command.data.reason, false);
      return [
        {
          type: "OrderCancelled",
          data: { orderId: order.id, reason: command.data.reason ?? null, cancelledAt: command.metadata.now },
        },
      ];
    }
    default: {
      const unknown: never = command;
      throw new Error(`unknown command ${JSON.stringify(unknown)}`);
    }
  }
}

export function evolve(state: Order, event: OrderEvent): Order {
  switch (event.type) {
    case "OrderCreated": {
      const { orderId, customerId, currency, items, total, createdAt } = event.data;
      return { status: "pending", id: orderId, customerId, currency, items, total, createdAt };
    }
    case "OrderConfirmed":
      return state.status === "pending" ? { ...state, status: "confirmed", confirmedAt: event.data.confirmedAt } : state;
    case "OrderRejected":
      return state.status === "pending" ? { ...state, status: "rejected", reason: event.data.reason, rejectedAt: event.data.rejectedAt } : state;
    case "OrderCancelled":
      return state.status === "pending" ? { ...state, status: "cancelled", reason: event.data.reason, cancelledAt: event.data.cancelledAt } : state;
    default: {
      const unknown: never = event;
      throw new Error(`unknown event ${JSON.stringify(unknown)}`);
    }
  }
}

function pendingOrder(state: Order, orderId: string): Extract<Order, { status: "pending" }> {
  switch (state.status) {
    case "pending":
      return state;
    case "initial":
      throw new DomainError<OrderErrorCode>("ORDER_NOT_FOUND", `order ${orderId} not found`);
    case "confirmed":
      throw new DomainError<OrderErrorCode>("ORDER_ALREADY_CONFIRMED", `order ${orderId} is already confirmed`);
    case "rejected":
      throw new DomainError<OrderErrorCode>("ORDER_ALREADY_REJECTED", `order ${orderId} is already rejected`);
    case "cancelled":
      throw new DomainError<OrderErrorCode>("ORDER_ALREADY_CANCELLED", `order ${orderId} is already cancelled`);
    default: {
      const unknown: never = state;
      throw new Error(`unknown order state ${JSON.stringify(unknown)}`);
    }
  }
}

function invalid(field: string, message: string): DomainError<OrderErrorCode> {
  return new DomainError<OrderErrorCode>("INVALID_ORDER", `${field} ${message}`, { field });
}

function isIdentifier(value: string): boolean {
  return value.length > 0 && value.length <= ORDER_LIMITS.maxIdLength;
}

/** The rules hold whatever the transport validated before; the domain trusts no caller. */
function validatePlacement(data: Extract<OrderCommand, { type: "CreateOrder" }>["data"]): void {
  if (!isIdentifier(data.orderId)) throw invalid("orderId", "must be 1 to 64 characters");
  if (!isIdentifier(data.customerId)) throw invalid("customerId", "must be 1 to 64 characters");
  if (!isCurrency(data.currency)) throw invalid("currency", "must be an ISO 4217 code of three capital letters");
  if (data.items.length < ORDER_LIMITS.minItems || data.items.length > ORDER_LIMITS.maxItems) {
    throw invalid("items", `must hold ${ORDER_LIMITS.minItems} to ${ORDER_LIMITS.maxItems} lines`);
  }
  data.items.forEach((line, index) => {
    if (!isIdentifier(line.productId)) throw invalid(`items[${index}].productId`, "must be 1 to 64 characters");
    if (!Number.isInteger(line.quantity) || line.quantity < ORDER_LIMITS.minQuantity || line.quantity > ORDER_LIMITS.maxQuantity) {
      throw invalid(`items[${index}].quantity`, `must be an integer from ${ORDER_LIMITS.minQuantity} to ${ORDER_LIMITS.maxQuantity}`);
    }
    if (!Number.isSafeInteger(line.unitPrice) || line.unitPrice < 0) {
      throw invalid(`items[${index}].unitPrice`, "must be a whole number of minor units, 0 or more");
    }
  });
}

function validateReason(reason: string | undefined, required: boolean): void {
  if (reason === undefined) {
    if (required) throw invalid("reason", "is required");
    return;
  }
  if (reason.length === 0 || reason.length > ORDER_LIMITS.maxReasonLength) {
    throw invalid("reason", `must be 1 to ${ORDER_LIMITS.maxReasonLength} characters`);
  }
}

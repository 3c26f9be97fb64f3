import type { ViewDefinition } from "./port";
import * as orderDecider from "../../domain/order";
import { Order, OrderEvent } from "../../domain/order";

/** The order list (GET /api/orders, orders.stats): one row per order, filtered by status and customer. */
export const ORDERS_VIEW: ViewDefinition<Order> = {
  name: "orders",
  streamPrefix: "order",
  initialState: orderDecider.initialState,
  // The log holds what the decider wrote: its events, as the aggregate repository folds them.
  evolve: (order, event) => orderDecider.evolve(order, event as OrderEvent),
  exists: (order) => order.status !== "initial",
  columns: ["status", "customer_id"],
  columnsOf: (order) => (order.status === "initial" ? { status: null, customer_id: null } : { status: order.status, customer_id: order.customerId }),
  countedBy: "status",
};

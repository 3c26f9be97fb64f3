import { OrderLine } from "../../domain/order";
import { CreateOrderParams, ListOrdersParams, OrderHistoryEntry, OrderIdParams, PlacedOrder } from "../../services/orders.service";
import { UsageError, choiceOption, commandGroup, numberOption, parseWords } from "../command";
import { details, instant, money } from "../format";
import { Output } from "../output";

export const ORDER_STATUSES = ["pending", "confirmed", "rejected", "cancelled"] as const satisfies readonly PlacedOrder["status"][];

/** When an order reached its status, and why, for the statuses that have a reason. */
export function settlement(order: PlacedOrder): { at: string | null; reason: string | null } {
  switch (order.status) {
    case "pending":
      return { at: null, reason: null };
    case "confirmed":
      return { at: order.confirmedAt, reason: null };
    case "rejected":
      return { at: order.rejectedAt, reason: order.reason };
    case "cancelled":
      return { at: order.cancelledAt, reason: order.reason };
  }
}

/** "book:2:1250" → 2 × book at 1250 minor units; a product id may itself hold colons. */
function orderLine(text: string): OrderLine {
  const parts = text.split(":");
  const [unitPrice, quantity] = [parts.pop(), parts.pop()];
  const productId = parts.join(":");
  if (!productId || !quantity || !unitPrice || !/^\d+$/.test(quantity) || !/^\d+$/.test(unitPrice)) {
    throw new UsageError(`'${text}' is not productId:quantity:unitPrice (whole numbers, the price in minor units)`);
  }
  return { productId, quantity: Number(quantity), unitPrice: Number(unitPrice) };
}

function printOrder(out: Output, order: PlacedOrder): void {
  const { at, reason } = settlement(order);
  out.fields([
    ["id", order.id],
    ["customer", order.customerId],
    ["status", order.status],
    ["total", money(order.total, order.currency)],
    ["reason", reason],
    ["created", instant(order.createdAt)],
    [order.status === "pending" ? "settled" : order.status, instant(at)],
  ]);
  out.table(
    ["product", "quantity", "unit price", "amount"],
    order.items.map((line) => [line.productId, line.quantity, money(line.unitPrice, order.currency), money(line.quantity * line.unitPrice, order.currency)]),
  );
}

export const orderCommand = commandGroup("order", "place, show and list orders", {
  create: {
    usage: "<customerId> <currency> <productId:quantity:unitPrice>...",
    async run({ broker, out }, args) {
      const [customerId, currency, ...lines] = parseWords(args, {}).positionals;
      if (customerId === undefined || currency === undefined || lines.length === 0) {
        throw new UsageError("order create needs a customer, a currency and at least one line");
      }
      const order = await broker.call<PlacedOrder, CreateOrderParams>("orders.create", { customerId, currency, items: lines.map(orderLine) });
      printOrder(out, order);
    },
  },

  show: {
    usage: "<id>",
    async run({ broker, out }, args) {
      const [id, ...extra] = parseWords(args, {}).positionals;
      if (id === undefined || extra.length > 0) throw new UsageError("order show takes one order id");
      const [order, history] = await Promise.all([
        broker.call<PlacedOrder, OrderIdParams>("orders.get", { id }),
        broker.call<OrderHistoryEntry[], OrderIdParams>("orders.history", { id }),
      ]);
      printOrder(out, order);
      out.table(
        ["revision", "event", "occurred", "details"],
        history.map((event) => [event.revision, event.type, instant(event.occurredAt), details(event.data, ["orderId"])]),
      );
    },
  },

  list: {
    usage: "[--status pending|confirmed|rejected|cancelled] [--customer c] [--limit n] [--cursor c]",
    async run({ broker, out }, args) {
      const { values, positionals } = parseWords(args, {
        status: { type: "string" },
        customer: { type: "string" },
        limit: { type: "string" },
        cursor: { type: "string" },
      });
      if (positionals.length > 0) throw new UsageError(`order list takes no argument besides options, not '${positionals.join(" ")}'`);
      const query: ListOrdersParams = {
        status: choiceOption("--status", values.status, ORDER_STATUSES),
        customerId: values.customer,
        limit: numberOption("--limit", values.limit, { min: 1, max: 100, integer: true }),
        cursor: values.cursor,
      };
      const page = await broker.call<{ items: PlacedOrder[]; nextCursor: string | null }, ListOrdersParams>("orders.list", query);
      out.table(
        ["id", "customer", "status", "total", "reason", "created"],
        page.items.map((order) => [
          order.id,
          order.customerId,
          order.status,
          money(order.total, order.currency),
          settlement(order).reason,
          instant(order.createdAt),
        ]),
        "no orders",
      );
      if (page.nextCursor) out.note(`more with --cursor ${page.nextCursor}`);
    },
  },
});

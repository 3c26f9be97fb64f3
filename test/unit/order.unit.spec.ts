import * as order from "../../domain/order";
import { OrderCommand, OrderEvent } from "../../domain/order";
import { specify } from "../support/decider-spec";

const now = "2026-11-29T10:00:00.000Z";
const later = "2026-11-29T10:00:05.000Z";
const orderId = "2b1f7d0e-0c4f-4c4e-9b43-3d8e6a1c9f10";
const spec = specify(order);

const create: OrderCommand = {
  type: "CreateOrder",
  data: {
    orderId,
    customerId: "c-42",
    currency: "EUR",
    items: [
      { productId: "book", quantity: 2, unitPrice: 1250 },
      { productId: "pen", quantity: 3, unitPrice: 199 },
    ],
  },
  metadata: { now },
};
const confirm: OrderCommand = { type: "ConfirmOrder", data: { orderId }, metadata: { now: later } };
const reject: OrderCommand = { type: "RejectOrder", data: { orderId, reason: "FRAUD_REJECTED" }, metadata: { now: later } };
const cancel: OrderCommand = { type: "CancelOrder", data: { orderId, reason: "changed my mind" }, metadata: { now: later } };

const created: OrderEvent = {
  type: "OrderCreated",
  data: {
    orderId,
    customerId: "c-42",
    currency: "EUR",
    items: [
      { productId: "book", quantity: 2, unitPrice: 1250 },
      { productId: "pen", quantity: 3, unitPrice: 199 },
    ],
    total: 3097,
    createdAt: now,
  },
};
const confirmed: OrderEvent = { type: "OrderConfirmed", data: { orderId, confirmedAt: later } };
const rejected: OrderEvent = { type: "OrderRejected", data: { orderId, reason: "FRAUD_REJECTED", rejectedAt: later } };
const cancelled: OrderEvent = { type: "OrderCancelled", data: { orderId, reason: "changed my mind", cancelledAt: later } };

type CreateOrder = Extract<OrderCommand, { type: "CreateOrder" }>;

function creating(data: Partial<CreateOrder["data"]>): CreateOrder {
  const base = create as CreateOrder;
  return { ...base, data: { ...base.data, ...data } };
}

describe("Order decider", () => {
  describe("CreateOrder", () => {
    it("creates a pending order with its total in minor units", () => {
      spec.given([]).when(create).then([created]);
    });

    it("keeps only the known fields of each line", () => {
      const withExtra = creating({
        items: [{ productId: "book", quantity: 1, unitPrice: 5, discount: 99 } as order.OrderLine],
      });
      spec
        .given([])
        .when(withExtra)
        .then([
          {
            type: "OrderCreated",
            data: { ...created.data, items: [{ productId: "book", quantity: 1, unitPrice: 5 }], total: 5 },
          },
        ]);
    });

    it("accepts the bounds: 1 and 100 lines, quantity 1 and 1000, price 0", () => {
      const hundred = Array.from({ length: 100 }, (_, index) => ({ productId: `p${index}`, quantity: 1000, unitPrice: 0 }));
      expect(order.decide(creating({ items: hundred }), order.initialState())[0]?.data).toMatchObject({ total: 0 });
      expect(order.decide(creating({ items: [{ productId: "p", quantity: 1, unitPrice: 7 }] }), order.initialState())[0]?.data).toMatchObject({ total: 7 });
    });

    it.each([
      ["currency", creating({ currency: "eur" })],
      ["currency", creating({ currency: "EURO" })],
      ["customerId", creating({ customerId: "" })],
      ["customerId", creating({ customerId: "x".repeat(65) })],
      ["orderId", creating({ orderId: "" })],
      ["items", creating({ items: [] })],
      ["items", creating({ items: Array.from({ length: 101 }, () => ({ productId: "p", quantity: 1, unitPrice: 1 })) })],
      ["items[0].quantity", creating({ items: [{ productId: "p", quantity: 0, unitPrice: 1 }] })],
      ["items[0].quantity", creating({ items: [{ productId: "p", quantity: 1001, unitPrice: 1 }] })],
      ["items[0].quantity", creating({ items: [{ productId: "p", quantity: 1.5, unitPrice: 1 }] })],
      ["items[0].unitPrice", creating({ items: [{ productId: "p", quantity: 1, unitPrice: -1 }] })],
      ["items[0].unitPrice", creating({ items: [{ productId: "p", quantity: 1, unitPrice: 0.5 }] })],
      ["items[0].productId", creating({ items: [{ productId: "", quantity: 1, unitPrice: 1 }] })],
    ])("refuses an invalid %s", (field, command) => {
      spec.given([]).when(command).thenThrows("INVALID_ORDER", { field });
    });

    it("refuses a total that a JSON number cannot hold exactly", () => {
      const huge = creating({ items: [{ productId: "p", quantity: 1000, unitPrice: Number.MAX_SAFE_INTEGER }] });
      spec.given([]).when(huge).thenThrows("ORDER_TOTAL_TOO_LARGE");
    });

    it.each([
      ["pending", [created]],
      ["confirmed", [created, confirmed]],
      ["rejected", [created, rejected]],
      ["cancelled", [created, cancelled]],
    ])("refuses to create an order that is already %s", (_status, history) => {
      spec.given(history).when(create).thenThrows("ORDER_ALREADY_EXISTS");
    });
  });

  describe("ConfirmOrder, RejectOrder, CancelOrder on a pending order", () => {
    it("confirms", () => spec.given([created]).when(confirm).then([confirmed]));
    it("rejects with the reason", () => spec.given([created]).when(reject).then([rejected]));
    it("cancels with the reason", () => spec.given([created]).when(cancel).then([cancelled]));
    it("cancels without a reason", () => {
      spec
        .given([created])
        .when({ type: "CancelOrder", data: { orderId }, metadata: { now: later } })
        .then([{ type: "OrderCancelled", data: { orderId, reason: null, cancelledAt: later } }]);
    });
    it("refuses a rejection without a reason or with an overlong one", () => {
      spec
        .given([created])
        .when({ ...reject, data: { orderId, reason: "" } })
        .thenThrows("INVALID_ORDER", { field: "reason" });
      spec
        .given([created])
        .when({ ...cancel, data: { orderId, reason: "x".repeat(501) } })
        .thenThrows("INVALID_ORDER", { field: "reason" });
    });
  });

  describe("every command on an order that does not exist", () => {
    it.each([confirm, reject, cancel])("refuses $type with ORDER_NOT_FOUND", (command) => {
      spec.given([]).when(command).thenThrows("ORDER_NOT_FOUND");
    });
  });

  describe("a terminal order refuses every further command", () => {
    const terminal: [string, OrderEvent[], string][] = [
      ["confirmed", [created, confirmed], "ORDER_ALREADY_CONFIRMED"],
      ["rejected", [created, rejected], "ORDER_ALREADY_REJECTED"],
      ["cancelled", [created, cancelled], "ORDER_ALREADY_CANCELLED"],
    ];
    for (const [status, history, code] of terminal) {
      it.each([confirm, reject, cancel])(`${status}: refuses $type with ${code}`, (command) => {
        spec.given(history).when(command).thenThrows(code);
      });
    }
  });

  describe("evolve", () => {
    it("folds the history into the current state", () => {
      spec.given([created, cancelled]).thenState({
        status: "cancelled",
        id: orderId,
        customerId: "c-42",
        currency: "EUR",
        items: created.data.items,
        total: 3097,
        createdAt: now,
        reason: "changed my mind",
        cancelledAt: later,
      });
    });
  });
});

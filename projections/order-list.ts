import { RecordedEvent } from "../adapters/event-store";
import { Order, OrderEvent, OrderStatus, evolve, initialState } from "../domain/order";

export type PlacedOrder = Exclude<Order, { status: "initial" }>;

export interface OrderListQuery {
  status?: Exclude<OrderStatus, "initial">;
  customerId?: string;
  limit: number;
  cursor?: string;
}

export interface OrderListPage {
  orders: PlacedOrder[];
  nextCursor: string | null;
}

export class InvalidCursor extends Error {
  override readonly name = "InvalidCursor";
}

const ORDER_STREAM = /^order-/;

/**
 * Every order, newest first, folded from the global log with the Order decider's own `evolve`.
 * A cursor is the opaque global position of the last order of a page.
 */
export class OrderList {
  private readonly orders = new Map<string, { order: PlacedOrder; position: bigint }>();
  /** Order ids in the order they were created, which is the order of their positions. */
  private readonly byCreation: string[] = [];
  private lastPosition = 0n;

  get position(): bigint {
    return this.lastPosition;
  }

  apply(event: RecordedEvent): void {
    this.lastPosition = event.position;
    if (!ORDER_STREAM.test(event.stream)) return;
    const orderEvent = { type: event.type, data: event.data } as OrderEvent;
    const orderId = String(event.data.orderId);
    const known = this.orders.get(orderId);
    const next = evolve(known?.order ?? initialState(), orderEvent);
    if (next.status === "initial") return;
    if (!known) this.byCreation.push(orderId);
    this.orders.set(orderId, { order: next, position: known?.position ?? event.position });
  }

  query({ status, customerId, limit, cursor }: OrderListQuery): OrderListPage {
    const before = cursor === undefined ? undefined : decodeCursor(cursor);
    const page: PlacedOrder[] = [];
    let lastPosition = 0n;
    for (let index = this.byCreation.length - 1; index >= 0 && page.length <= limit; index -= 1) {
      const entry = this.orders.get(this.byCreation[index]!)!;
      if (before !== undefined && entry.position >= before) continue;
      if (status !== undefined && entry.order.status !== status) continue;
      if (customerId !== undefined && entry.order.customerId !== customerId) continue;
      if (page.length === limit) return { orders: page, nextCursor: encodeCursor(lastPosition) };
      page.push(entry.order);
      lastPosition = entry.position;
    }
    return { orders: page, nextCursor: null };
  }
}

function encodeCursor(position: bigint): string {
  return Buffer.from(`p:${position}`).toString("base64url");
}

function decodeCursor(cursor: string): bigint {
  const match = /^p:(\d{1,19})$/.exec(Buffer.from(cursor, "base64url").toString("utf8"));
  if (!match) throw new InvalidCursor("cursor is not one this API gave");
  return BigInt(match[1]!);
}

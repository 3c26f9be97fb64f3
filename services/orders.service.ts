import { Context, Errors } from "moleculer";
import { ServiceSchemaFor } from "./shared/service-schema";
import { DomainError } from "../domain/errors";
import * as orderDecider from "../domain/order";
import { ORDER_LIMITS, OrderCommand, OrderErrorCode, OrderEvent, OrderLine, Order } from "../domain/order";
import { canonicalDigest, nameBasedUuid, timeOrderedUuid } from "./shared/ids";
import { AggregateRepository } from "../adapters/event-store/aggregate-repository";
import { MetricsMixin, appMetric } from "../mixins/metrics.mixin";
import { DomainErrorsMixin } from "../mixins/domain-errors.mixin";
import { eventMetadata } from "./shared/event-metadata";
import { EventStoreMixin, WithEventStore } from "../mixins/event-store.mixin";
import { ProjectionMixin, WithProjection } from "../mixins/projection.mixin";
import { ORDERS_VIEW } from "../adapters/read-model/orders-view";
import { InvalidCursor } from "../adapters/read-model/projection";
import { Clock, systemClock } from "../adapters/clock";
import { typedText } from "./shared/typed-text";
import { CURRENCY_RULE, ORDER_ITEMS_RULE } from "./shared/order-rules";

export interface OrdersServiceOptions {
  eventStoreUrl: string;
  /** READ_MODEL_URL: where the order list lives; chosen from eventStoreUrl when unset. */
  readModelUrl?: string;
  /** Where commands read the time. */
  clock?: Clock;
}

/**
 * Set by the gateway, never from a request: the id of the order its HTTP request creates, when
 * the client gave no Idempotency-Key, so that a create retried inside the cluster (its answer
 * lost in a broker restart) finds the order it made instead of making a second one.
 */
export interface CreateOrderMeta {
  orderId?: string;
}

export interface CreateOrderParams {
  customerId: string;
  currency: string;
  items: OrderLine[];
  /** Repeating a create with the same key and body answers with the same order. */
  idempotencyKey?: string;
}
export interface OrderIdParams {
  id: string;
}
export interface RejectOrderParams extends OrderIdParams {
  reason: string;
}
export interface CancelOrderParams extends OrderIdParams {
  reason?: string;
}
export type PlacedOrder = Exclude<Order, { status: "initial" }>;

export interface ListOrdersParams {
  status?: PlacedOrder["status"];
  customerId?: string;
  limit?: number;
  cursor?: string;
}

export interface OrderHistoryEntry {
  type: string;
  revision: number;
  occurredAt: string;
  data: Record<string, unknown>;
}

type OrdersThis = WithEventStore &
  WithProjection<Order> & {
    orders: AggregateRepository<OrderCommand, OrderEvent, Order>;
    execute(ctx: Context, orderId: string, command: OrderCommand, extra?: Record<string, unknown>): Promise<PlacedOrder>;
  };

/** Keys of idempotent creates are turned into order ids inside this namespace. */
const IDEMPOTENCY_NAMESPACE = "8f0b8c52-5f3e-4a36-9a57-1d1c1f6f3b2e";
const DEFAULT_PAGE_SIZE = 20;

const STATUS_OF: Record<OrderErrorCode, 404 | 409 | 422> = {
  INVALID_ORDER: 422,
  ORDER_TOTAL_TOO_LARGE: 422,
  ORDER_NOT_FOUND: 404,
  ORDER_ALREADY_EXISTS: 409,
  ORDER_ALREADY_CONFIRMED: 409,
  ORDER_ALREADY_REJECTED: 409,
  ORDER_ALREADY_CANCELLED: 409,
};

const orderId = typedText(ORDER_LIMITS.maxIdLength);
const reason = typedText(ORDER_LIMITS.maxReasonLength);
const statuses = ["pending", "confirmed", "rejected", "cancelled"];

export function ordersService({ eventStoreUrl, readModelUrl, clock = systemClock }: OrdersServiceOptions): ServiceSchemaFor<OrdersThis> {
  const now = () => clock.now().toISOString();
  return {
    name: "orders",
    mixins: [
      EventStoreMixin({ url: eventStoreUrl }),
      ProjectionMixin({ name: "orders", definition: ORDERS_VIEW, eventStoreUrl, readModelUrl }),
      DomainErrorsMixin(STATUS_OF),
      MetricsMixin(["ordersCreated"]),
    ],

    actions: {
      create: {
        params: {
          $$strict: true,
          customerId: typedText(ORDER_LIMITS.maxIdLength),
          currency: CURRENCY_RULE,
          items: ORDER_ITEMS_RULE,
          idempotencyKey: { ...typedText(255), optional: true },
        },
        async handler(this: OrdersThis, ctx: Context<CreateOrderParams, CreateOrderMeta>): Promise<PlacedOrder> {
          const { idempotencyKey, ...request } = ctx.params;
          const create = (id: string, extra?: Record<string, unknown>) =>
            this.execute(ctx, id, { type: "CreateOrder", data: { orderId: id, ...request }, metadata: { now: now() } }, extra);
          const counted = (order: PlacedOrder) => {
            this.broker.metrics.increment(appMetric(this.broker, "ordersCreated"));
            return order;
          };
          if (idempotencyKey === undefined) {
            const id = ctx.meta.orderId ?? timeOrderedUuid(clock.now().getTime());
            try {
              return counted(await create(id));
            } catch (error) {
              // The gateway's id for its request: this call is a retry of one whose answer was lost.
              if (ctx.meta.orderId === undefined || !(error instanceof DomainError) || error.code !== "ORDER_ALREADY_EXISTS") throw error;
              const { state } = await this.orders.load(id);
              if (state.status === "initial") throw error;
              return state;
            }
          }
          const id = nameBasedUuid(IDEMPOTENCY_NAMESPACE, idempotencyKey);
          const requestDigest = canonicalDigest(request);
          try {
            return counted(await create(id, { idempotencyKey, requestDigest }));
          } catch (error) {
            if (!(error instanceof DomainError) || error.code !== "ORDER_ALREADY_EXISTS") throw error;
            const existing = await this.orders.load(id);
            if (existing.state.status !== "initial" && existing.events[0]?.metadata.requestDigest === requestDigest) {
              return existing.state;
            }
            throw new Errors.MoleculerClientError("this Idempotency-Key was already used with another request body", 422, "IDEMPOTENCY_KEY_REUSED", {
              idempotencyKey,
            });
          }
        },
      },

      get: {
        params: { $$strict: true, id: orderId },
        async handler(this: OrdersThis, ctx: Context<OrderIdParams>): Promise<PlacedOrder> {
          const { state } = await this.orders.load(ctx.params.id);
          if (state.status === "initial") throw new DomainError("ORDER_NOT_FOUND", `order ${ctx.params.id} not found`);
          return state;
        },
      },

      list: {
        params: {
          $$strict: true,
          status: { type: "enum", values: statuses, optional: true },
          customerId: { ...typedText(ORDER_LIMITS.maxIdLength), optional: true },
          limit: { type: "number", integer: true, min: 1, max: 100, convert: true, optional: true },
          cursor: { type: "string", min: 1, max: 64, optional: true },
        },
        async handler(this: OrdersThis, ctx: Context<ListOrdersParams>) {
          const { status, customerId, limit = DEFAULT_PAGE_SIZE, cursor } = ctx.params;
          try {
            // Caught up first: the caller sees its own writes.
            return await this.projection.list({ status, customer_id: customerId }, limit, cursor);
          } catch (error) {
            if (!(error instanceof InvalidCursor)) throw error;
            throw new Errors.ValidationError(error.message, "VALIDATION_ERROR", [
              { type: "cursor", field: "cursor", message: error.message, actual: ctx.params.cursor },
            ]);
          }
        },
      },

      stats: {
        visibility: "public",
        async handler(this: OrdersThis): Promise<Record<PlacedOrder["status"], number>> {
          const counts = await this.projection.counts();
          return { pending: counts.pending ?? 0, confirmed: counts.confirmed ?? 0, rejected: counts.rejected ?? 0, cancelled: counts.cancelled ?? 0 };
        },
      },

      history: {
        params: { $$strict: true, id: orderId },
        async handler(this: OrdersThis, ctx: Context<OrderIdParams>): Promise<OrderHistoryEntry[]> {
          const { events } = await this.orders.load(ctx.params.id);
          if (events.length === 0) throw new DomainError("ORDER_NOT_FOUND", `order ${ctx.params.id} not found`);
          return events.map((event) => ({
            type: event.type,
            revision: event.revision,
            occurredAt: event.metadata.occurredAt,
            data: event.data,
          }));
        },
      },

      cancel: {
        params: { $$strict: true, id: orderId, reason: { ...reason, optional: true } },
        handler(this: OrdersThis, ctx: Context<CancelOrderParams>): Promise<PlacedOrder> {
          const { id, reason: why } = ctx.params;
          return this.execute(ctx, id, { type: "CancelOrder", data: { orderId: id, reason: why }, metadata: { now: now() } });
        },
      },

      // Steps of the order saga: callable from other nodes, not through the gateway.
      confirm: {
        visibility: "public",
        params: { $$strict: true, id: orderId },
        handler(this: OrdersThis, ctx: Context<OrderIdParams>): Promise<PlacedOrder> {
          const { id } = ctx.params;
          return this.execute(ctx, id, { type: "ConfirmOrder", data: { orderId: id }, metadata: { now: now() } });
        },
      },

      reject: {
        visibility: "public",
        params: { $$strict: true, id: orderId, reason },
        handler(this: OrdersThis, ctx: Context<RejectOrderParams>): Promise<PlacedOrder> {
          const { id, reason: why } = ctx.params;
          return this.execute(ctx, id, { type: "RejectOrder", data: { orderId: id, reason: why }, metadata: { now: now() } });
        },
      },

      health: {
        visibility: "public",
        async handler(this: OrdersThis) {
          try {
            await this.eventStore.ping();
            return { eventStore: { status: "up" } };
          } catch (error) {
            return { eventStore: { status: "down", error: (error as Error).message } };
          }
        },
      },
    },

    methods: {
      async execute(this: OrdersThis, ctx: Context, id: string, command: OrderCommand, extra: Record<string, unknown> = {}) {
        const { state } = await this.orders.handle(id, command, eventMetadata(ctx, command.metadata.now, extra));
        if (state.status === "initial") throw new Error(`order ${id} has no event after ${command.type}`);
        return state;
      },
    },

    // Lifecycle handlers see the plain Service type; the typed `this` is on actions and methods.
    created() {
      this.orders = new AggregateRepository(this.eventStore, orderDecider, "order");
    },
  };
}

import { Context } from "moleculer";
import { ServiceSchemaFor } from "./shared/service-schema";
import { ChaosSettings } from "../config";
import { ORDER_LIMITS } from "../domain/order";
import * as paymentDecider from "../domain/payment";
import { Payment, PaymentCommand, PaymentEvent, PaymentRequest } from "../domain/payment";
import { AggregateRepository } from "../adapters/event-store/aggregate-repository";
import { ChaosMixin } from "../mixins/chaos.mixin";
import { eventMetadata } from "./shared/event-metadata";
import { EventStoreMixin, WithEventStore } from "../mixins/event-store.mixin";
import { Clock, systemClock } from "../adapters/clock";
import { typedText } from "./shared/typed-text";
import { DomainErrorsMixin } from "../mixins/domain-errors.mixin";

export interface PaymentsServiceOptions {
  eventStoreUrl: string;
  /** Amounts above this, in minor units, are declined. */
  limit: number;
  chaos: ChaosSettings;
  /** Where commands read the time. */
  clock?: Clock;
}

export interface PaymentAnswer {
  orderId: string;
  status: Payment["status"];
  reason: string | null;
}

type PaymentsThis = WithEventStore & {
  payments: AggregateRepository<PaymentCommand, PaymentEvent, Payment>;
  execute(ctx: Context, orderId: string, command: PaymentCommand): Promise<PaymentAnswer>;
};

const orderId = typedText(ORDER_LIMITS.maxIdLength);

/**
 * A saga participant with its own event-sourced state (stream payment-<orderId>). Every action
 * is idempotent per order: a repeated call answers the state the first one left.
 */
export function paymentsService({ eventStoreUrl, limit, chaos, clock = systemClock }: PaymentsServiceOptions): ServiceSchemaFor<PaymentsThis> {
  return {
    name: "payments",
    mixins: [EventStoreMixin({ url: eventStoreUrl }), ChaosMixin(chaos, ["authorize", "void", "capture"]), DomainErrorsMixin({ PAYMENT_NOT_CAPTURABLE: 409 })],
    actions: {
      authorize: {
        visibility: "public",
        params: {
          $$strict: true,
          orderId,
          customerId: typedText(ORDER_LIMITS.maxIdLength),
          amount: { type: "number", integer: true, min: 0 },
          currency: { type: "string", pattern: /^[A-Z]{3}$/ },
        },
        handler(this: PaymentsThis, ctx: Context<PaymentRequest>): Promise<PaymentAnswer> {
          return this.execute(ctx, ctx.params.orderId, {
            type: "AuthorizePayment",
            data: { ...ctx.params, limit },
            metadata: { now: clock.now().toISOString() },
          });
        },
      },
      void: {
        visibility: "public",
        params: { $$strict: true, orderId },
        handler(this: PaymentsThis, ctx: Context<{ orderId: string }>): Promise<PaymentAnswer> {
          return this.execute(ctx, ctx.params.orderId, {
            type: "VoidPayment",
            data: { orderId: ctx.params.orderId },
            metadata: { now: clock.now().toISOString() },
          });
        },
      },
      capture: {
        visibility: "public",
        params: { $$strict: true, orderId },
        handler(this: PaymentsThis, ctx: Context<{ orderId: string }>): Promise<PaymentAnswer> {
          return this.execute(ctx, ctx.params.orderId, {
            type: "CapturePayment",
            data: { orderId: ctx.params.orderId },
            metadata: { now: clock.now().toISOString() },
          });
        },
      },
    },
    methods: {
      async execute(this: PaymentsThis, ctx: Context, id: string, command: PaymentCommand): Promise<PaymentAnswer> {
        const { state } = await this.payments.handle(id, command, eventMetadata(ctx, command.metadata.now));
        return { orderId: id, status: state.status, reason: state.status === "declined" ? state.reason : null };
      },
    },
    created() {
      this.payments = new AggregateRepository(this.eventStore, paymentDecider, "payment");
    },
  };
}

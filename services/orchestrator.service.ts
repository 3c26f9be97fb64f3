import { Context, Errors } from "moleculer";
import { ServiceSchemaFor } from "./shared/service-schema";
import { ConsumeOptions, Consumer, Delivery, HandBack } from "../adapters/bus/port";
import { EventMetadata } from "../adapters/event-store";
import { FraudDecision } from "../domain/antifraud";
import { DomainError } from "../domain/errors";
import { ORDER_LIMITS, OrderErrorCode, OrderEvent } from "../domain/order";
import * as sagaDecider from "../domain/order-saga";
import { OrderSaga, SagaAction, SagaCommand, SagaEvent, StepResult, nextAction } from "../domain/order-saga";
import { AggregateRepository } from "../adapters/event-store/aggregate-repository";
import { MetricsMixin, appMetric } from "../mixins/metrics.mixin";
import { BusMixin, WithBus } from "../mixins/bus.mixin";
import type { BusAddress } from "../adapters/bus";
import { DomainErrorsMixin } from "../mixins/domain-errors.mixin";
import { EventStoreMixin, WithEventStore } from "../mixins/event-store.mixin";
import { PaymentAnswer } from "./payments.service";
import { KillSwitch, breakerGate } from "./orchestrator/kill-switch";
import { Clock, systemClock } from "../adapters/clock";
import { typedText } from "./shared/typed-text";

export interface OrchestratorServiceOptions {
  eventStoreUrl: string;
  bus: BusAddress;
  consume: ConsumeOptions;
  /** Where commands read the time. */
  clock?: Clock;
}

export interface SagaView {
  orderId: string;
  status: "running" | "ended";
  outcome: sagaDecider.SagaOutcome | null;
  reason: string | null;
  startedAt: string;
  endedAt: string | null;
  timeline: ({ event: SagaEvent["type"]; at: string } & Record<string, unknown>)[];
}

type OrchestratorThis = WithEventStore &
  WithBus & {
    sagas: AggregateRepository<SagaCommand, SagaEvent, OrderSaga>;
    consumer: Consumer | undefined;
    killSwitch: KillSwitch | undefined;
    callParticipant<T>(action: string, params: object): Promise<T>;
    handleDelivery(delivery: Delivery): Promise<void>;
    drive(orderId: string, metadata: EventMetadata, state: OrderSaga): Promise<void>;
    perform(action: SagaAction): Promise<StepResult>;
    observeEnd(handled: { state: OrderSaga; events: SagaEvent[] }): void;
    noteRedelivery(delivery: Delivery, orderId: string): void;
    redeliveries: Redelivery[];
  };

/** A message of the orchestrator's queue delivered again, and how long it waited since its failure. */
export interface Redelivery {
  orderId: string;
  topic: string;
  attempt: number;
  waitedMs: number | null;
  at: string;
}

const RECENT_REDELIVERIES = 50;
/** When the broker's options do not say how long a breaker stays open. */
const DEFAULT_HALF_OPEN_MS = 10_000;

interface BreakerEvent {
  action: string;
}

/** The orchestrator's own queue, bound to the order events that start or stop a saga. */
export const ORCHESTRATOR_QUEUE = "orchestrator";
export const ORCHESTRATOR_TOPICS = ["OrderCreated", "OrderCancelled"] as const satisfies readonly OrderEvent["type"][];

/**
 * Runs the order saga (domain/order-saga.ts) for each OrderCreated, and stops it for each
 * OrderCancelled. The saga's state is its own stream saga-<orderId>: every step's result is
 * appended with the revision it was decided on before the next step starts, so a redelivered
 * message resumes where the saga stopped and two orchestrators never record a step twice.
 * Infrastructure failures throw: the bus redelivers the message later.
 */
export function orchestratorService({ eventStoreUrl, bus, consume, clock = systemClock }: OrchestratorServiceOptions): ServiceSchemaFor<OrchestratorThis> {
  return {
    name: "orchestrator",
    mixins: [
      EventStoreMixin({ url: eventStoreUrl }),
      BusMixin(bus),
      DomainErrorsMixin({ SAGA_NOT_FOUND: 404 }),
      MetricsMixin(["busRedeliveries", "sagasFinished", "sagaDuration"]),
    ],

    events: {
      // The breakers that count are this node's: they guard the calls this orchestrator makes.
      "$circuit-breaker.half-opened"(this: OrchestratorThis, ctx: Context<BreakerEvent>) {
        if (ctx.nodeID === this.broker.nodeID) this.killSwitch?.letsThrough(ctx.params.action);
      },
      "$circuit-breaker.closed"(this: OrchestratorThis, ctx: Context<BreakerEvent>) {
        if (ctx.nodeID === this.broker.nodeID) this.killSwitch?.letsThrough(ctx.params.action);
      },
    },

    actions: {
      redeliveries: {
        visibility: "public",
        handler(this: OrchestratorThis): Redelivery[] {
          return this.redeliveries;
        },
      },

      get: {
        params: { $$strict: true, orderId: typedText(ORDER_LIMITS.maxIdLength) },
        async handler(this: OrchestratorThis, ctx: Context<{ orderId: string }>): Promise<SagaView> {
          const { state, events } = await this.sagas.load(ctx.params.orderId);
          if (state.status === "initial") {
            throw new DomainError("SAGA_NOT_FOUND", `no saga has started for order ${ctx.params.orderId}`);
          }
          return {
            orderId: ctx.params.orderId,
            status: state.status,
            outcome: state.status === "ended" ? state.outcome : null,
            reason: state.status === "ended" ? state.reason : null,
            startedAt: state.startedAt,
            endedAt: state.status === "ended" ? state.endedAt : null,
            timeline: events.map((event) => {
              const { orderId: _orderId, at, ...details } = event.data as { orderId: string; at: string };
              return { event: event.type as SagaEvent["type"], at, ...details };
            }),
          };
        },
      },
    },

    methods: {
      async handleDelivery(this: OrchestratorThis, delivery: Delivery): Promise<void> {
        const event = delivery.payload as { data: Record<string, unknown>; metadata: EventMetadata };
        const orderId = String(event.data.orderId);
        const now = clock.now().toISOString();
        const metadata: EventMetadata = {
          correlationId: String(event.metadata.correlationId),
          causationId: delivery.messageId,
          occurredAt: now,
          // Which orchestrator recorded a step: visible when several share the queue.
          handledBy: this.broker.nodeID,
        };
        let command: SagaCommand;
        if (delivery.topic === "OrderCreated") {
          const created = event.data as Extract<OrderEvent, { type: "OrderCreated" }>["data"];
          const order = { orderId, customerId: created.customerId, amount: created.total, currency: created.currency };
          command = { type: "StartSaga", data: order, metadata: { now } };
        } else {
          command = { type: "RequestCancellation", data: { orderId }, metadata: { now } };
        }
        if (delivery.attempt > 1) this.noteRedelivery(delivery, orderId);
        const started = await this.sagas.handle(orderId, command, metadata);
        this.observeEnd(started);
        await this.drive(orderId, metadata, started.state);
      },

      /** Does what the saga asks next, records it, and again, until it asks nothing more. */
      async drive(this: OrchestratorThis, orderId: string, metadata: EventMetadata, state: OrderSaga): Promise<void> {
        for (let action = nextAction(state); action; action = nextAction(state)) {
          const result = await this.perform(action);
          const now = clock.now().toISOString();
          const command: SagaCommand =
            action.type === "Compensate"
              ? { type: "RecordCompensation", data: { orderId, step: action.step }, metadata: { now } }
              : { type: "RecordStepResult", data: { orderId, step: sagaDecider.STEP_OF_ACTION[action.type], result }, metadata: { now } };
          const handled = await this.sagas.handle(orderId, command, { ...metadata, occurredAt: now });
          this.observeEnd(handled);
          state = handled.state;
        }
      },

      /** Counts a redelivery, and keeps the latest ones (with how long each waited) to show. */
      noteRedelivery(this: OrchestratorThis, delivery: Delivery, orderId: string): void {
        this.broker.metrics.increment(appMetric(this.broker, "busRedeliveries"), { queue: delivery.queue });
        const at = clock.now();
        const waitedMs = delivery.lastFailureAt ? at.getTime() - Date.parse(delivery.lastFailureAt) : null;
        this.redeliveries.unshift({ orderId, topic: delivery.topic, attempt: delivery.attempt, waitedMs, at: at.toISOString() });
        this.redeliveries.length = Math.min(this.redeliveries.length, RECENT_REDELIVERIES);
      },

      /** Counts a saga that this append ended, and how long it took. */
      observeEnd(this: OrchestratorThis, { state, events }: { state: OrderSaga; events: SagaEvent[] }): void {
        const ended = events.find((event) => event.type === "SagaEnded");
        if (!ended || state.status !== "ended") return;
        const labels = { outcome: state.outcome };
        this.broker.metrics.increment(appMetric(this.broker, "sagasFinished"), labels);
        this.broker.metrics.observe(appMetric(this.broker, "sagaDuration"), (Date.parse(state.endedAt) - Date.parse(state.startedAt)) / 1000, labels);
      },

      /**
       * Calls a participant. A failure while its circuit breaker is not closed says nothing
       * about the message: it goes back without spending an attempt (see KillSwitch).
       */
      async callParticipant<T>(this: OrchestratorThis, action: string, params: object): Promise<T> {
        try {
          return await this.broker.call<T, object>(action, params);
        } catch (error) {
          if (error instanceof Errors.MoleculerClientError || !this.killSwitch?.blocks(action)) throw error;
          throw new HandBack(`the circuit breaker of ${action} is open: ${(error as Error).message}`);
        }
      },

      async perform(this: OrchestratorThis, action: SagaAction): Promise<StepResult> {
        switch (action.type) {
          case "CheckFraud": {
            const { orderId, customerId, amount, currency } = action.order;
            const answer = await this.callParticipant<FraudDecision>("antifraud.check", { orderId, customerId, total: amount, currency });
            return answer.decision === "approved" ? { kind: "succeeded" } : { kind: "refused", detail: answer.reason };
          }
          case "AuthorizePayment": {
            const answer = await this.callParticipant<PaymentAnswer>("payments.authorize", action.order);
            return answer.status === "declined" ? { kind: "refused", detail: answer.reason ?? "DECLINED" } : { kind: "succeeded" };
          }
          case "ConfirmOrder":
            return settleOrder(this.callParticipant("orders.confirm", { id: action.orderId }), "ORDER_ALREADY_CONFIRMED");
          case "RejectOrder":
            return settleOrder(this.callParticipant("orders.reject", { id: action.orderId, reason: action.reason }), "ORDER_ALREADY_REJECTED");
          case "Compensate":
            await this.callParticipant("payments.void", { orderId: action.orderId });
            return { kind: "succeeded" };
          default: {
            const unknown: never = action;
            throw new Error(`unknown saga action ${JSON.stringify(unknown)}`);
          }
        }
      },
    },

    created() {
      this.redeliveries = [];
      this.sagas = new AggregateRepository(this.eventStore, sagaDecider, "saga");
    },

    async started() {
      this.consumer = await this.bus.consume(ORCHESTRATOR_QUEUE, ORCHESTRATOR_TOPICS, (delivery: Delivery) => this.handleDelivery(delivery), consume);
      const halfOpenMs = this.broker.options.circuitBreaker?.halfOpenTime ?? DEFAULT_HALF_OPEN_MS;
      this.killSwitch = new KillSwitch({
        consumer: this.consumer,
        queue: ORCHESTRATOR_QUEUE,
        gate: (action) => breakerGate(this.broker, action),
        maxPauseMs: 2 * halfOpenMs,
        logger: this.logger,
      });
    },

    async stopped() {
      this.killSwitch?.stop();
      await this.consumer?.stop();
    },
  };
}

/**
 * An order already in the state the step wanted (a repeated call whose answer was lost), or
 * cancelled meanwhile, is an answer, not a failure: the saga goes on from it.
 */
async function settleOrder(call: Promise<unknown>, alreadyDone: OrderErrorCode): Promise<StepResult> {
  try {
    await call;
    return { kind: "succeeded" };
  } catch (error) {
    if (!(error instanceof Errors.MoleculerClientError)) throw error;
    if (error.type === alreadyDone) return { kind: "succeeded" };
    if (error.type === "ORDER_ALREADY_CANCELLED") return { kind: "orderCancelled" };
    throw error;
  }
}

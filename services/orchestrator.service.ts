import { Context, Errors, Span } from "moleculer";
import { randomUUID } from "node:crypto";
import { ServiceSchemaFor } from "./shared/service-schema";
import { ConsumeOptions, Consumer, Delivery, HandBack } from "../adapters/bus/port";
import { EventMetadata } from "../adapters/event-store";
import { FraudDecision } from "../domain/antifraud";
import { DomainError } from "../domain/errors";
import { ORDER_LIMITS, OrderErrorCode, OrderEvent } from "../domain/order";
import * as sagaDecider from "../domain/order-saga";
import { OrderSaga, SagaAction, SagaCommand, SagaEvent, SagaTimeLimits, StepResult, definitionRefusal, nextAction } from "../domain/order-saga";
import { AggregateRepository } from "../adapters/event-store/aggregate-repository";
import { MetricsMixin, appMetric } from "../mixins/metrics.mixin";
import { BusMixin, WithBus } from "../mixins/bus.mixin";
import type { BusAddress } from "../adapters/bus";
import { DomainErrorsMixin } from "../mixins/domain-errors.mixin";
import { EventStoreMixin, WithEventStore } from "../mixins/event-store.mixin";
import { ProjectionMixin, WithProjection } from "../mixins/projection.mixin";
import { SAGAS_VIEW } from "../adapters/read-model/sagas-view";
import { InvalidCursor } from "../adapters/read-model/projection";
import { PaymentAnswer } from "./payments.service";
import { KillSwitch, breakerGate } from "./orchestrator/kill-switch";
import { DeadlineScheduler } from "./orchestrator/deadline-scheduler";
import { PARTICIPANT_ACTION, SAGA_STATUSES, SagaSummary, StartedSaga, durationMs, durationRule, isStarted, summaryOf } from "./orchestrator/saga-summary";
import { Clock, systemClock } from "../adapters/clock";
import { typedText } from "./shared/typed-text";
import { eventMetadata } from "./shared/event-metadata";
import { adminOf } from "../middlewares/admin-audit";
import { TRACEPARENT, endSpan, inSpan, messagingSystem, startDeliverySpan, startSpanFrom, traceparentOf } from "../tracing/spans";
import { parseTraceparent } from "../tracing/trace-context";

export interface OrchestratorServiceOptions {
  eventStoreUrl: string;
  /** READ_MODEL_URL: where the saga list lives; chosen from eventStoreUrl when unset. */
  readModelUrl?: string;
  bus: BusAddress;
  consume: ConsumeOptions;
  /** SAGA_DEADLINE_MS and SAGA_STEP_TIMEOUT_MS: recorded in each saga this orchestrator starts. */
  limits: SagaTimeLimits;
  /**
   * SAGA_DEFINITION: the version of the workflow each saga it starts runs, and the newest it
   * drives (the code's latest when unset).
   */
  definition?: number;
  /** Where commands and the deadline scheduler read the time. */
  clock?: Clock;
}

export type { SagaSummary };

/** GET /api/sagas/:orderId: the saga's summary and every event it recorded. */
export interface SagaView extends SagaSummary {
  /** The trace of its order (GET /api/traces/:traceId), when its start was traced. */
  traceId: string | null;
  timeline: ({ event: SagaEvent["type"]; at: string } & Record<string, unknown>)[];
}

export interface ListSagasParams {
  status?: StartedSaga["status"];
  outcome?: sagaDecider.SagaOutcome;
  /** A duration (durationRule): only sagas started longer ago than this. */
  olderThan?: string;
  limit?: number;
  cursor?: string;
}

export interface OperatorActionParams {
  orderId: string;
  reason: string;
}

/** What moleculer-web reads from the context's meta to shape the answer. */
interface GatewayMeta {
  $statusCode?: number;
  $responseHeaders?: Record<string, string>;
}

type OrchestratorThis = WithEventStore &
  WithBus &
  WithProjection<OrderSaga> & {
    sagas: AggregateRepository<SagaCommand, SagaEvent, OrderSaga>;
    consumer: Consumer | undefined;
    killSwitch: KillSwitch | undefined;
    scheduler: DeadlineScheduler;
    /** Drives started by an operator's request, answered before they end: waited for at stop. */
    drives: Set<Promise<void>>;
    callParticipant<T>(action: string, params: object, span: Span | undefined, waitedForDiscovery?: boolean): Promise<T>;
    callDiscovered<T>(action: string, params: object, span: Span | undefined, notFound: Error): Promise<T>;
    traceDelivery(delivery: Delivery): Promise<void>;
    handleDelivery(delivery: Delivery, span: Span | undefined): Promise<void>;
    drive(orderId: string, metadata: EventMetadata, state: OrderSaga, span: Span | undefined): Promise<OrderSaga>;
    refuseUnknownDefinition(state: OrderSaga): void;
    driveInBackground(orderId: string, metadata: EventMetadata, state: OrderSaga, span: Span | undefined): void;
    settleOverdue(orderId: string): Promise<void>;
    expire(orderId: string, now: string, first: EventMetadata | undefined, span: Span | undefined): Promise<void>;
    operate(ctx: Context<OperatorActionParams, GatewayMeta>, type: "RetrySaga" | "CancelSaga"): Promise<SagaSummary>;
    perform(action: SagaAction, span: Span | undefined): Promise<StepResult>;
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
/** How long a call waits for a participant not discovered yet, when the broker has no request timeout. */
const DEFAULT_DISCOVERY_WAIT_MS = 5000;
/** When the broker's options do not say how long a breaker stays open. */
const DEFAULT_HALF_OPEN_MS = 10_000;
const DEFAULT_PAGE_SIZE = 20;
const OPERATOR_REASON_LENGTH = 500;
const orderIdRule = typedText(ORDER_LIMITS.maxIdLength);

interface BreakerEvent {
  action: string;
}

/**
 * A saga of a definition newer than this orchestrator knows (an older node during a rolling
 * upgrade): its message fails, so that the bus redelivers it, to an orchestrator that knows it
 * if one shares the queue, and dead-letters it with this error after the last attempt.
 */
export class SagaDefinitionUnknown extends Error {
  override readonly name = "SagaDefinitionUnknown";
  constructor(refusal: string) {
    super(`SAGA_DEFINITION_UNKNOWN: ${refusal}`);
  }
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
export function orchestratorService({
  eventStoreUrl,
  readModelUrl,
  bus,
  consume,
  limits,
  definition = sagaDecider.LATEST_SAGA_DEFINITION,
  clock = systemClock,
}: OrchestratorServiceOptions): ServiceSchemaFor<OrchestratorThis> {
  return {
    name: "orchestrator",
    mixins: [
      EventStoreMixin({ url: eventStoreUrl }),
      ProjectionMixin({ name: "sagas", definition: SAGAS_VIEW, eventStoreUrl, readModelUrl }),
      BusMixin(bus),
      DomainErrorsMixin({ SAGA_NOT_FOUND: 404, SAGA_ENDED: 409, SAGA_COMPENSATING: 409, SAGA_PAST_CONFIRMATION: 409, SAGA_DEFINITION_UNKNOWN: 409 }),
      MetricsMixin(["busRedeliveries", "sagasFinished", "sagaDuration"]),
    ],

    events: {
      // Expiries call the participants: not before every local service has started.
      "$broker.started"(this: OrchestratorThis) {
        this.scheduler.start();
      },
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
        params: { $$strict: true, orderId: orderIdRule },
        async handler(this: OrchestratorThis, ctx: Context<{ orderId: string }>): Promise<SagaView> {
          const { state, events } = await this.sagas.load(ctx.params.orderId);
          if (state.status === "initial") {
            throw new DomainError("SAGA_NOT_FOUND", `no saga has started for order ${ctx.params.orderId}`);
          }
          return {
            ...summaryOf(state),
            traceId: parseTraceparent(events[0]?.metadata[TRACEPARENT])?.traceId ?? null,
            timeline: events.map((event) => {
              const { orderId: _orderId, at, ...details } = event.data as { orderId: string; at: string };
              return { event: event.type as SagaEvent["type"], at, ...details };
            }),
          };
        },
      },

      list: {
        params: {
          $$strict: true,
          status: { type: "enum", values: SAGA_STATUSES, optional: true },
          outcome: { type: "enum", values: sagaDecider.SAGA_OUTCOMES, optional: true },
          olderThan: { ...durationRule, optional: true },
          limit: { type: "number", integer: true, min: 1, max: 100, convert: true, optional: true },
          cursor: { type: "string", min: 1, max: 64, optional: true },
        },
        /**
         * Newest first, as the view keeps them. With olderThan, a page holds the rows of one
         * page of the view that are old enough, and pages of younger rows are skipped: a page
         * may be shorter than `limit` (the cursor says whether more follow).
         */
        async handler(this: OrchestratorThis, ctx: Context<ListSagasParams>): Promise<{ items: SagaSummary[]; nextCursor: string | null }> {
          const { status, outcome, olderThan, limit = DEFAULT_PAGE_SIZE } = ctx.params;
          const startedBefore = olderThan === undefined ? Infinity : clock.now().getTime() - durationMs(olderThan);
          let cursor = ctx.params.cursor;
          try {
            for (;;) {
              // Caught up first: the caller sees its own writes.
              const page = await this.projection.list({ status, outcome }, limit, cursor);
              const items = page.items.filter(isStarted).filter((saga) => Date.parse(saga.startedAt) < startedBefore);
              if (items.length > 0 || page.nextCursor === null) return { items: items.map(summaryOf), nextCursor: page.nextCursor };
              cursor = page.nextCursor;
            }
          } catch (error) {
            if (!(error instanceof InvalidCursor)) throw error;
            throw new Errors.ValidationError(error.message, "VALIDATION_ERROR", [
              { type: "cursor", field: "cursor", message: error.message, actual: ctx.params.cursor },
            ]);
          }
        },
      },

      retry: {
        params: { $$strict: true, orderId: orderIdRule, reason: typedText(OPERATOR_REASON_LENGTH) },
        handler(this: OrchestratorThis, ctx: Context<OperatorActionParams, GatewayMeta>): Promise<SagaSummary> {
          return this.operate(ctx, "RetrySaga");
        },
      },

      cancel: {
        params: { $$strict: true, orderId: orderIdRule, reason: typedText(OPERATOR_REASON_LENGTH) },
        handler(this: OrchestratorThis, ctx: Context<OperatorActionParams, GatewayMeta>): Promise<SagaSummary> {
          return this.operate(ctx, "CancelSaga");
        },
      },
    },

    methods: {
      /**
       * Each delivery is a span, child of the publish: a failure ends it failed (the bus retries
       * the message), a message handed back is no failure of it.
       */
      async traceDelivery(this: OrchestratorThis, delivery: Delivery): Promise<void> {
        const span = startDeliverySpan(this.broker, this, delivery, messagingSystem(bus.url), clock.now());
        try {
          await this.handleDelivery(delivery, span);
          endSpan(span);
        } catch (error) {
          if (error instanceof HandBack) {
            // Not a failure of the message: it goes back unspent, and the span says why.
            span?.log("message.handed-back", { reason: error.message });
            endSpan(span);
          } else {
            endSpan(span, error);
          }
          throw error;
        }
      },

      async handleDelivery(this: OrchestratorThis, delivery: Delivery, span: Span | undefined): Promise<void> {
        const event = delivery.payload as { data: Record<string, unknown>; metadata: EventMetadata };
        const orderId = String(event.data.orderId);
        const now = clock.now().toISOString();
        const metadata: EventMetadata = {
          correlationId: String(event.metadata.correlationId),
          causationId: delivery.messageId,
          occurredAt: now,
          // Which orchestrator recorded a step: visible when several share the queue.
          handledBy: this.broker.nodeID,
          ...(span ? { [TRACEPARENT]: traceparentOf(span) } : {}),
        };
        let command: SagaCommand;
        if (delivery.topic === "OrderCreated") {
          const created = event.data as Extract<OrderEvent, { type: "OrderCreated" }>["data"];
          const order = { orderId, customerId: created.customerId, amount: created.total, currency: created.currency };
          command = { type: "StartSaga", data: { ...order, limits, definition }, metadata: { now } };
        } else {
          // Not even a cancellation is recorded in a saga that this orchestrator cannot run.
          this.refuseUnknownDefinition((await this.sagas.load(orderId)).state);
          command = { type: "RequestCancellation", data: { orderId }, metadata: { now } };
        }
        if (delivery.attempt > 1) this.noteRedelivery(delivery, orderId);
        const started = await this.sagas.handle(orderId, command, metadata);
        this.observeEnd(started);
        await this.drive(orderId, metadata, started.state, span);
      },

      /** Does what the saga asks next, records it, and again, until it asks nothing more; answers the state it leaves. */
      async drive(this: OrchestratorThis, orderId: string, metadata: EventMetadata, state: OrderSaga, span: Span | undefined): Promise<OrderSaga> {
        this.refuseUnknownDefinition(state);
        for (let action = nextAction(state); action; action = nextAction(state)) {
          const result = await this.perform(action, span);
          const now = clock.now().toISOString();
          const command: SagaCommand =
            action.type === "Compensate"
              ? { type: "RecordCompensation", data: { orderId, step: action.step }, metadata: { now } }
              : { type: "RecordStepResult", data: { orderId, step: sagaDecider.STEP_OF_ACTION[action.type], result }, metadata: { now } };
          const handled = await this.sagas.handle(orderId, command, { ...metadata, occurredAt: now });
          this.observeEnd(handled);
          state = handled.state;
        }
        return state;
      },

      refuseUnknownDefinition(this: OrchestratorThis, state: OrderSaga): void {
        const refusal = definitionRefusal(state, definition);
        if (refusal) throw new SagaDefinitionUnknown(refusal);
      },

      /**
       * An operator's retry or cancel: recorded (with who and why) at the revision decided on,
       * answered at once (202, with the saga as recorded), and driven in the background: a
       * participant's call may outlast the request. A drive that fails leaves the saga as it
       * stands, listed; the deadline scheduler drives a cancelled one again.
       */
      async operate(this: OrchestratorThis, ctx: Context<OperatorActionParams, GatewayMeta>, type: "RetrySaga" | "CancelSaga"): Promise<SagaSummary> {
        const { orderId, reason } = ctx.params;
        const now = clock.now().toISOString();
        const metadata = { ...eventMetadata(ctx, now), handledBy: this.broker.nodeID };
        const request = { orderId, by: adminOf(ctx) ?? null, reason };
        const refusal = definitionRefusal((await this.sagas.load(orderId)).state, definition);
        if (refusal) throw new DomainError("SAGA_DEFINITION_UNKNOWN", refusal);
        const { state } = await this.sagas.handle(orderId, { type, data: request, metadata: { now } }, metadata);
        if (!isStarted(state)) throw new Error(`saga ${orderId} has no start after ${type}`);
        this.logger.info(`saga ${orderId}: ${type === "RetrySaga" ? "retry" : "cancellation"} by ${request.by ?? "an unnamed caller"} (${reason}); driving it`);
        this.driveInBackground(orderId, metadata, state, ctx.span ?? undefined);
        ctx.meta.$statusCode = 202;
        ctx.meta.$responseHeaders = { ...ctx.meta.$responseHeaders, Location: `/api/sagas/${orderId}` };
        return summaryOf(state);
      },

      driveInBackground(this: OrchestratorThis, orderId: string, metadata: EventMetadata, state: OrderSaga, span: Span | undefined): void {
        const drive: Promise<void> = this.drive(orderId, metadata, state, span)
          .then(() => undefined)
          .catch((error: unknown) => this.logger.warn(`saga ${orderId}: driving it failed (${(error as Error).message}); it stays as it stands`))
          .finally(() => this.drives.delete(drive));
        this.drives.add(drive);
      },

      /**
       * The deadline scheduler's work on one saga: expire it if its deadline or step timeout
       * has passed (decided on its stream, not on the view: a step recorded since moves the due
       * time), then drive a stopped saga (timed out now or before, cancelled by an operator)
       * to its end. A saga that still moves forward is its message's to drive.
       */
      async settleOverdue(this: OrchestratorThis, orderId: string): Promise<void> {
        const now = clock.now().toISOString();
        const { state: before, events } = await this.sagas.load(orderId);
        this.refuseUnknownDefinition(before);
        const first = events[0]?.metadata;
        // In the order's trace: a timeout and what it undoes show beside the steps that were late.
        const span = startSpanFrom(this.broker, first?.[TRACEPARENT], "expire saga", { kind: "internal", service: this, tags: { orderId } });
        await inSpan(span, () => this.expire(orderId, now, first, span));
      },

      async expire(this: OrchestratorThis, orderId: string, now: string, first: EventMetadata | undefined, span: Span | undefined): Promise<void> {
        const metadata: EventMetadata = {
          correlationId: typeof first?.correlationId === "string" ? first.correlationId : randomUUID(),
          causationId: randomUUID(),
          occurredAt: now,
          handledBy: this.broker.nodeID,
          ...(span ? { [TRACEPARENT]: traceparentOf(span) } : {}),
        };
        const handled = await this.sagas.handle(orderId, { type: "ExpireSaga", data: { orderId }, metadata: { now } }, metadata);
        for (const event of handled.events) {
          if (event.type === "SagaTimedOut") {
            const { reason, step, dueAt } = event.data;
            this.logger.warn(`saga ${orderId} timed out (${reason}, due ${dueAt}) waiting on ${step}: rejecting its order and undoing what may have happened`);
          }
        }
        this.observeEnd(handled);
        if (handled.state.status !== "running" || !handled.state.stop) return;
        const state = await this.drive(orderId, metadata, handled.state, span);
        if (state.status === "ended") this.logger.info(`saga ${orderId} ended ${state.outcome} (${state.reason ?? "no reason"})`);
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
       *
       * Neither does a participant this node has not heard of yet: an orchestrator that starts
       * (or restarts) takes messages before discovery has reached every node, and Moleculer
       * refuses such a call at once, before any middleware, so each attempt of the bus went in
       * milliseconds and a routine restart dead-lettered the sagas of the moment. The call waits
       * for the service (as long as a request may take) and is made once more.
       */
      async callParticipant<T>(this: OrchestratorThis, action: string, params: object, span: Span | undefined, waitedForDiscovery = false): Promise<T> {
        try {
          // The call's span is a child of the delivery's (the step's) span.
          return await this.broker.call<T, object>(action, params, span ? { parentSpan: span } : undefined);
        } catch (error) {
          if (error instanceof Errors.ServiceNotFoundError && !waitedForDiscovery) return this.callDiscovered<T>(action, params, span, error);
          if (error instanceof Errors.MoleculerClientError || !this.killSwitch?.blocks(action)) throw error;
          throw new HandBack(`the circuit breaker of ${action} is open: ${(error as Error).message}`);
        }
      },

      async callDiscovered<T>(this: OrchestratorThis, action: string, params: object, span: Span | undefined, notFound: Error): Promise<T> {
        const service = action.slice(0, action.lastIndexOf("."));
        const waitMs = this.broker.options.requestTimeout || DEFAULT_DISCOVERY_WAIT_MS;
        try {
          await this.broker.waitForServices(service, waitMs);
        } catch {
          throw notFound;
        }
        this.logger.info(`${service} discovered; calling ${action} again`);
        return this.callParticipant<T>(action, params, span, true);
      },

      async perform(this: OrchestratorThis, action: SagaAction, span: Span | undefined): Promise<StepResult> {
        const participant = PARTICIPANT_ACTION[action.type];
        switch (action.type) {
          case "CheckFraud": {
            const { orderId, customerId, amount, currency } = action.order;
            const answer = await this.callParticipant<FraudDecision>(participant, { orderId, customerId, total: amount, currency }, span);
            return answer.decision === "approved" ? { kind: "succeeded" } : { kind: "refused", detail: answer.reason };
          }
          case "AuthorizePayment": {
            const answer = await this.callParticipant<PaymentAnswer>(participant, action.order, span);
            return answer.status === "declined" ? { kind: "refused", detail: answer.reason ?? "DECLINED" } : { kind: "succeeded" };
          }
          case "ConfirmOrder":
            return settleOrder(this.callParticipant(participant, { id: action.orderId }, span), {
              ORDER_ALREADY_CONFIRMED: { kind: "succeeded" },
              ORDER_ALREADY_CANCELLED: { kind: "orderCancelled" },
              ORDER_ALREADY_REJECTED: { kind: "orderRejected" },
            });
          case "RejectOrder":
            return settleOrder(this.callParticipant(participant, { id: action.orderId, reason: action.reason }, span), {
              ORDER_ALREADY_REJECTED: { kind: "succeeded" },
              ORDER_ALREADY_CANCELLED: { kind: "orderCancelled" },
              ORDER_ALREADY_CONFIRMED: { kind: "orderConfirmed" },
            });
          case "CapturePayment":
          case "Compensate":
            await this.callParticipant(participant, { orderId: action.orderId }, span);
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
      this.drives = new Set();
      this.sagas = new AggregateRepository(this.eventStore, sagaDecider, "saga");
      this.scheduler = new DeadlineScheduler({
        store: this.eventStore,
        runningSagas: () => this.projection.all({ status: "running" }),
        settle: (orderId) => this.settleOverdue(orderId),
        clock,
        logger: this.logger,
      });
    },

    async started() {
      this.consumer = await this.bus.consume(ORCHESTRATOR_QUEUE, ORCHESTRATOR_TOPICS, (delivery: Delivery) => this.traceDelivery(delivery), consume);
      const halfOpenMs = this.broker.options.circuitBreaker?.halfOpenTime ?? DEFAULT_HALF_OPEN_MS;
      this.killSwitch = new KillSwitch({
        consumer: this.consumer,
        queue: ORCHESTRATOR_QUEUE,
        gate: (action) => breakerGate(this.broker, action),
        maxPauseMs: 2 * halfOpenMs,
        logger: this.logger,
      });
      if (this.broker.started) this.scheduler.start();
    },

    async stopped() {
      await this.scheduler.stop();
      this.killSwitch?.stop();
      await this.consumer?.stop();
      await Promise.all(this.drives);
    },
  };
}

/**
 * An order already settled is an answer, not a failure: in the state the step wanted (a
 * repeated call whose answer was lost), cancelled meanwhile, or settled the other way by a
 * race with a saga's stop. The saga goes on from it.
 */
async function settleOrder(call: Promise<unknown>, answers: Partial<Record<OrderErrorCode, StepResult>>): Promise<StepResult> {
  try {
    await call;
    return { kind: "succeeded" };
  } catch (error) {
    if (!(error instanceof Errors.MoleculerClientError)) throw error;
    const answer = Object.entries(answers).find(([code]) => code === error.type)?.[1];
    if (answer) return answer;
    throw error;
  }
}

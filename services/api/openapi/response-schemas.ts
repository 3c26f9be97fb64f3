import { SAGA_OUTCOMES } from "../../../domain/order-saga";
import { CHAOS_MODES } from "../../../mixins/chaos.mixin";
import { SAGA_STATUSES } from "../../orchestrator/saga-summary";
import { ADMIN_ALIASES, PUBLIC_ALIASES } from "../routes";
import { JsonSchema } from "./json-schema";

/**
 * The answers of the routes, written once by hand (the actions declare what they take, not
 * what they answer): the schema of each stable shape, and per routed action its success
 * status and the refusals particular to it. A route whose action has no entry here does not
 * compile, so a new route cannot be left out of the document.
 */

export type SchemaName =
  | "Error"
  | "OrderLine"
  | "Order"
  | "OrderPage"
  | "OrderHistory"
  | "SagaSummary"
  | "Saga"
  | "SagaPage"
  | "Trace"
  | "ChaosSettings"
  | "Chaos"
  | "DeadLetter"
  | "DeadLetterPage"
  | "DeadLetterEntry"
  | "DeadLetterGroups"
  | "DlqJob"
  | "DlqJobPage"
  | "ProjectionReport"
  | "Health"
  | "Resilience"
  | "OpenApiDocument";

export const schemaRef = (name: SchemaName): JsonSchema => ({ $ref: `#/components/schemas/${name}` });

const text: JsonSchema = { type: "string" };
const time: JsonSchema = { type: "string", format: "date-time" };
const uuid: JsonSchema = { type: "string", format: "uuid" };
const count: JsonSchema = { type: "integer", minimum: 0 };
const orNull = (schema: JsonSchema): JsonSchema => ({ anyOf: [schema, { type: "null" }] });
const arrayOf = (items: JsonSchema): JsonSchema => ({ type: "array", items });
const anyObject: JsonSchema = { type: "object" };

/** An object with exactly these members; the `optional` ones may be missing. */
function exactly(properties: Record<string, JsonSchema>, optional: readonly string[] = []): JsonSchema {
  return { type: "object", properties, required: Object.keys(properties).filter((name) => !optional.includes(name)), additionalProperties: false };
}

const pageOf = (item: SchemaName): JsonSchema =>
  exactly({
    items: arrayOf(schemaRef(item)),
    nextCursor: { ...orNull(text), description: "Pass it back as `cursor` for the next page; null on the last one." },
  });

const placedOrder = { id: text, customerId: text, currency: text, items: arrayOf(schemaRef("OrderLine")), total: count, createdAt: time };
const saga = {
  orderId: text,
  status: { enum: [...SAGA_STATUSES] },
  outcome: orNull({ enum: [...SAGA_OUTCOMES] }),
  reason: orNull(text),
  step: orNull({ enum: ["checkFraud", "authorizePayment", "confirmOrder", "capturePayment", "rejectOrder"] }),
  why: { ...text, description: 'What it does or how it ended: "waiting for payments.authorize", "timed out: DEADLINE_EXCEEDED".' },
  startedAt: time,
  definition: { ...count, minimum: 1, description: "The version of the saga's definition it runs (SAGA_DEFINITION when it started)." },
  deadline: orNull(time),
  endedAt: orNull(time),
};
const traceId: JsonSchema = { type: "string", pattern: "^[0-9a-f]{32}$", description: "A W3C trace id: 32 lower-case hex digits." };
const spanId: JsonSchema = { type: "string", description: "A span's id: 16 lower-case hex digits for the spans of this project." };
const attributes: JsonSchema = {
  type: "object",
  additionalProperties: { anyOf: [{ type: "string" }, { type: "number" }, { type: "boolean" }] },
  description: 'OpenTelemetry attributes, flat: "action.name", "messaging.destination.name"...',
};
const epochMs: JsonSchema = { type: "number", description: "Milliseconds since the epoch, with fractions." };
const deadLetterStatus: JsonSchema = { enum: ["dead", "replaying", "replayed", "purged"] };
const jobFilter = exactly({ originQueue: text, eventType: text, group: text }, ["originQueue", "eventType", "group"]);

export const RESPONSE_SCHEMAS: Record<SchemaName, JsonSchema> = {
  Error: {
    ...exactly({
      type: { ...text, description: "What went wrong, e.g. VALIDATION_ERROR, ORDER_NOT_FOUND, UNAUTHORIZED." },
      message: text,
      code: { type: "integer", minimum: 400, maximum: 599, description: "The HTTP status." },
      data: { description: "Details: the invalid fields (a list) for VALIDATION_ERROR, null or an object otherwise." },
    }),
    description: "Every error answer, whatever the route.",
  },
  OrderLine: exactly({
    productId: text,
    quantity: { type: "integer", minimum: 1 },
    unitPrice: { ...count, description: "Minor units of the order's currency." },
  }),
  Order: {
    anyOf: [
      exactly({ status: { const: "pending" }, ...placedOrder }),
      exactly({ status: { const: "confirmed" }, ...placedOrder, confirmedAt: time }),
      exactly({ status: { const: "rejected" }, ...placedOrder, reason: text, rejectedAt: time }),
      exactly({ status: { const: "cancelled" }, ...placedOrder, reason: orNull(text), cancelledAt: time }),
    ],
  },
  OrderPage: pageOf("Order"),
  OrderHistory: arrayOf(exactly({ type: text, revision: count, occurredAt: time, data: anyObject })),
  SagaSummary: exactly(saga),
  Saga: exactly({
    ...saga,
    traceId: { ...orNull(traceId), description: "The order's trace (GET /traces/{traceId}); null for a saga started before tracing or with tracing off." },
    timeline: arrayOf({
      type: "object",
      properties: { event: text, at: time },
      required: ["event", "at"],
      description: "One recorded event of the saga: its type, when, and its own fields (step, reason, by...).",
    }),
  }),
  SagaPage: pageOf("SagaSummary"),
  Trace: {
    ...exactly({
      traceId,
      spans: {
        ...arrayOf(
          exactly({
            traceId,
            id: spanId,
            parentId: { ...orNull(spanId), description: "The span it is a child of; null for the trace's root (or a span whose parent was not traced)." },
            name: text,
            kind: { enum: ["server", "client", "producer", "consumer", "internal"] },
            service: { ...orNull(text), description: "The Moleculer service that did the work, when one did." },
            nodeId: text,
            startTime: epochMs,
            durationMs: { type: "number", minimum: 0 },
            error: orNull(exactly({ name: text, message: text, code: { type: "integer" }, type: text }, ["code", "type"])),
            attributes,
            events: {
              ...arrayOf(exactly({ name: text, time: epochMs, attributes })),
              description: 'What happened during the span: "breaker.rejected", "chaos.injected"...',
            },
            links: {
              ...arrayOf(exactly({ traceId, spanId, attributes })),
              description: "Spans it follows from without being their child: a redelivery links the attempt that failed.",
            },
          }),
        ),
        description: "By start time, then id.",
      },
      droppedSpans: { ...count, description: "Spans that arrived once the trace held as many as the collector keeps of one trace." },
    }),
    description: "The spans of one trace that the nodes reported to the gateway's collector (in memory: the most recent traces only).",
  },
  ChaosSettings: exactly({ failureRate: { type: "number", minimum: 0, maximum: 1 }, latencyMs: count, mode: { enum: [...CHAOS_MODES] } }),
  Chaos: {
    type: "object",
    additionalProperties: schemaRef("ChaosSettings"),
    description: "The chaos settings of each participant, by service name (antifraud, payments).",
  },
  DeadLetter: exactly({
    id: uuid,
    status: deadLetterStatus,
    originQueue: text,
    eventType: text,
    orderId: orNull(text),
    attempts: count,
    lastError: text,
    lastFailureAt: time,
    deaths: count,
    replays: count,
    group: { type: "string", pattern: "^[0-9a-f]{12}$" },
    edited: { type: "boolean" },
  }),
  DeadLetterPage: pageOf("DeadLetter"),
  DeadLetterEntry: exactly({
    status: deadLetterStatus,
    id: uuid,
    message: exactly({
      messageId: text,
      topic: text,
      payload: anyObject,
      headers: anyObject,
      originQueue: text,
      error: exactly({ name: text, message: text, stack: text }),
      attempts: count,
      firstFailureAt: time,
      lastFailureAt: time,
    }),
    deaths: count,
    replays: count,
    deadLetteredAt: time,
    replayedAt: orNull(time),
    purge: orNull(exactly({ reason: text, at: time })),
    claim: orNull(anyObject),
    edited: { ...orNull(anyObject), description: "The last edit of the payload since the message last died (by, reason, patch, at)." },
  }),
  DeadLetterGroups: exactly({
    items: arrayOf(
      exactly({
        group: text,
        errorType: text,
        message: text,
        originQueue: text,
        eventType: text,
        count: { type: "integer", minimum: 1 },
        firstSeen: time,
        lastSeen: time,
      }),
    ),
  }),
  DlqJob: exactly({
    id: uuid,
    kind: { enum: ["replay", "purge"] },
    status: { enum: ["running", "done", "cancelled", "failed"] },
    filter: jobFilter,
    total: count,
    replayed: count,
    purged: count,
    skipped: count,
    failed: count,
    startedAt: time,
    endedAt: orNull(time),
    by: text,
    rate: { type: "number", minimum: 0 },
    reason: orNull(text),
    cancelledBy: orNull(text),
    error: orNull(text),
  }),
  DlqJobPage: pageOf("DlqJob"),
  ProjectionReport: exactly({
    name: text,
    status: { enum: ["idle", "rebuilding", "done", "failed", "interrupted"] },
    position: text,
    rows: count,
    startedAt: orNull(time),
    finishedAt: orNull(time),
    target: orNull(text),
    progress: orNull({ type: "number", minimum: 0, maximum: 1 }),
    error: orNull(text),
  }),
  Health: exactly({
    status: { enum: ["ok", "unavailable"] },
    checks: {
      type: "object",
      additionalProperties: { type: "object", properties: { status: { enum: ["up", "down"] }, error: text }, required: ["status"] },
      description: "Each dependency (orders, eventStore, relay, bus) with its status; the relay also tells leader, position, published, inFlight.",
    },
  }),
  Resilience: exactly({
    nodes: arrayOf(text),
    unanswered: arrayOf(exactly({ nodeID: text, error: text })),
    breakers: arrayOf(
      exactly({
        caller: text,
        endpoint: exactly({ nodeID: text, action: text }),
        state: { enum: ["closed", "open", "half-open", "half-open-wait"] },
        count,
        failures: count,
      }),
    ),
    bulkheads: arrayOf(exactly({ nodeID: text, action: text, inFlight: count, queued: count })),
    dlq: { anyOf: [exactly({ depth: count }), exactly({ depth: { type: "null" }, error: text })] },
  }),
  OpenApiDocument: { ...anyObject, description: "This document (OpenAPI 3.1)." },
};

type RoutedAction = (typeof PUBLIC_ALIASES)[keyof typeof PUBLIC_ALIASES] | (typeof ADMIN_ALIASES)[keyof typeof ADMIN_ALIASES];

/** What a route answers when it succeeds, and the error types only it gives (beside the ones every route may). */
export interface Answer {
  summary: string;
  status: 200 | 201 | 202;
  schema: SchemaName;
  /** Where the Location header of the answer points. */
  location?: string;
  /** A body other than the Error for an unhealthy answer (the health route's 503). */
  unavailable?: SchemaName;
  /** Error types by status, besides VALIDATION_ERROR (422) for any route that takes a param. */
  refusals?: Partial<Record<404 | 409 | 422, string[]>>;
}

const ORDER_SETTLED = ["ORDER_ALREADY_CONFIRMED", "ORDER_ALREADY_REJECTED", "ORDER_ALREADY_CANCELLED"];
const rebuild = (name: string): Answer => ({
  summary: `Rebuild the ${name} read model from the log into a new table, then swap it in`,
  status: 202,
  schema: "ProjectionReport",
  location: `/api/projections/${name}`,
  refusals: { 409: ["PROJECTION_REBUILD_RUNNING"] },
});
const operatorAction = (what: string): Answer => ({
  summary: what,
  status: 202,
  schema: "SagaSummary",
  location: "/api/sagas/{orderId}",
  refusals: { 404: ["SAGA_NOT_FOUND"], 409: ["SAGA_ENDED", "SAGA_COMPENSATING"] },
});

export const ANSWERS: Record<RoutedAction, Answer> = {
  "orders.create": {
    summary: "Place an order (an Idempotency-Key makes a repeat land on the same order)",
    status: 201,
    schema: "Order",
    location: "/api/orders/{id}",
    refusals: { 422: ["ORDER_TOTAL_TOO_LARGE", "IDEMPOTENCY_KEY_REUSED"] },
  },
  "orders.list": { summary: "Orders, newest first", status: 200, schema: "OrderPage" },
  "orders.get": { summary: "One order", status: 200, schema: "Order", refusals: { 404: ["ORDER_NOT_FOUND"] } },
  "orders.history": { summary: "The events of an order", status: 200, schema: "OrderHistory", refusals: { 404: ["ORDER_NOT_FOUND"] } },
  "orders.cancel": { summary: "Cancel a pending order", status: 200, schema: "Order", refusals: { 404: ["ORDER_NOT_FOUND"], 409: ORDER_SETTLED } },
  "orchestrator.list": { summary: "Sagas, newest first, each with the step it waits on and why", status: 200, schema: "SagaPage" },
  "orchestrator.get": {
    summary: "A saga: its status, deadline, what it waits on, its timeline",
    status: 200,
    schema: "Saga",
    refusals: { 404: ["SAGA_NOT_FOUND"] },
  },
  "traces.get": {
    summary: "The spans of one trace (an order's: the traceId of GET /sagas/{orderId}), as the nodes reported them",
    status: 200,
    schema: "Trace",
    refusals: { 404: ["TRACE_NOT_FOUND"] },
  },
  "dlq.list": { summary: "Dead letters, newest first", status: 200, schema: "DeadLetterPage" },
  "dlq.groups": { summary: "Dead letters grouped by cause, biggest first", status: 200, schema: "DeadLetterGroups" },
  "dlq.jobs": { summary: "Replay and purge jobs, newest first", status: 200, schema: "DlqJobPage" },
  "dlq.job": { summary: "One job's progress", status: 200, schema: "DlqJob", refusals: { 404: ["DLQ_JOB_NOT_FOUND"] } },
  "dlq.show": {
    summary: "One dead letter whole: payload, headers, error, attempts",
    status: 200,
    schema: "DeadLetterEntry",
    refusals: { 404: ["DEAD_LETTER_NOT_FOUND"] },
  },
  "api.chaos": { summary: "The chaos settings of the participants", status: 200, schema: "Chaos" },
  "api.resilience": { summary: "Circuit breakers per calling node and endpoint, bulkheads, DLQ depth", status: 200, schema: "Resilience" },
  "api.health": { summary: "Whether every dependency answers", status: 200, schema: "Health", unavailable: "Health" },
  "api.openapi": { summary: "This document", status: 200, schema: "OpenApiDocument" },
  "orders.projection": { summary: "The order list's read model: status, position, rows", status: 200, schema: "ProjectionReport" },
  "dlq.projection": { summary: "The DLQ list's read model: status, position, rows", status: 200, schema: "ProjectionReport" },
  "orchestrator.projection": { summary: "The saga list's read model: status, position, rows", status: 200, schema: "ProjectionReport" },
  "api.setChaos": { summary: "Change the faults of a participant (fields left out keep their value)", status: 200, schema: "ChaosSettings" },
  "dlq.replayAll": { summary: "Start a job that replays every dead letter that matches", status: 202, schema: "DlqJob", location: "/api/dlq/jobs/{id}" },
  "dlq.replay": {
    summary: "Replay one dead letter, at once",
    status: 200,
    schema: "DeadLetter",
    refusals: { 404: ["DEAD_LETTER_NOT_FOUND"], 409: ["DEAD_LETTER_PURGED", "DEAD_LETTER_REPLAYING", "DEAD_LETTER_CONFLICT"] },
  },
  "dlq.purge": {
    summary: "Purge one dead letter, the reason kept as a record",
    status: 200,
    schema: "DeadLetter",
    refusals: { 404: ["DEAD_LETTER_NOT_FOUND"], 409: ["DEAD_LETTER_REPLAYED", "DEAD_LETTER_REPLAYING", "DEAD_LETTER_CONFLICT"] },
  },
  "dlq.edit": {
    summary: "Fix a dead message's payload before its replay (RFC 6902 JSON Patch)",
    status: 200,
    schema: "DeadLetterEntry",
    refusals: {
      404: ["DEAD_LETTER_NOT_FOUND"],
      409: ["DEAD_LETTER_REPLAYING", "DEAD_LETTER_REPLAYED", "DEAD_LETTER_PURGED", "DEAD_LETTER_CONFLICT"],
      422: ["JSON_PATCH_INVALID", "PAYLOAD_INVALID", "PAYLOAD_NOT_EDITABLE"],
    },
  },
  "dlq.purgeGroup": { summary: "Start a job that purges every dead letter of a group", status: 202, schema: "DlqJob", location: "/api/dlq/jobs/{id}" },
  "dlq.cancelJob": { summary: "Stop a running job", status: 200, schema: "DlqJob", refusals: { 404: ["DLQ_JOB_NOT_FOUND"], 409: ["DLQ_JOB_ENDED"] } },
  "orders.rebuildProjection": rebuild("orders"),
  "dlq.rebuildProjection": rebuild("dead-letters"),
  "orchestrator.rebuildProjection": rebuild("sagas"),
  "orchestrator.retry": operatorAction("Do the saga's current step again now"),
  "orchestrator.cancel": operatorAction("Stop the saga: reject its order, undo what may have happened"),
};

import { Context, Service } from "moleculer";
import { DomainError } from "../domain/errors";
import { DomainErrorsMixin } from "../mixins/domain-errors.mixin";
import { SPANS_EVENT } from "../tracing/broker-tracing";
import type { Attributes, RecordedSpan, SpanEvent, SpanKind, SpanLink } from "../tracing/recorded-span";
import { StoredTrace, TraceStore, TraceStoreLimits } from "../tracing/trace-store";
import { ServiceSchemaFor } from "./shared/service-schema";

export type TracesServiceOptions = TraceStoreLimits;

type TraceErrorCode = "TRACE_NOT_FOUND";

type TracesThis = Service & { store: TraceStore };

const STATUS_OF: Record<TraceErrorCode, 404> = { TRACE_NOT_FOUND: 404 };

const SPAN_KINDS: readonly string[] = ["server", "client", "producer", "consumer", "internal"] satisfies SpanKind[];
const isSpanKind = (value: unknown): value is SpanKind => typeof value === "string" && SPAN_KINDS.includes(value);

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);
const isTime = (value: unknown): value is number => typeof value === "number" && Number.isFinite(value);
const isAttributes = (value: unknown): value is Attributes =>
  isObject(value) && Object.values(value).every((member) => typeof member === "string" || isTime(member) || typeof member === "boolean");

function errorOf(value: unknown): RecordedSpan["error"] | undefined {
  if (value === null) return null;
  if (!isObject(value) || typeof value.name !== "string" || typeof value.message !== "string") return undefined;
  const { code, type } = value;
  return {
    name: value.name,
    message: value.message,
    // An HTTP-like status, as the document says: no other number.
    ...(typeof code === "number" && Number.isInteger(code) ? { code } : {}),
    ...(typeof type === "string" ? { type } : {}),
  };
}

function eventOf(value: unknown): SpanEvent | undefined {
  if (!isObject(value) || typeof value.name !== "string" || !isTime(value.time) || !isAttributes(value.attributes)) return undefined;
  return { name: value.name, time: value.time, attributes: { ...value.attributes } };
}

function linkOf(value: unknown): SpanLink | undefined {
  if (!isObject(value) || typeof value.traceId !== "string" || typeof value.spanId !== "string" || !isAttributes(value.attributes)) return undefined;
  return { traceId: value.traceId, spanId: value.spanId, attributes: { ...value.attributes } };
}

/** Every item read by `read`, or undefined when one of them does not read. */
function allOf<T>(value: unknown, read: (item: unknown) => T | undefined): T[] | undefined {
  if (!Array.isArray(value)) return undefined;
  const items: T[] = [];
  for (const item of value) {
    const parsed = read(item);
    if (parsed === undefined) return undefined;
    items.push(parsed);
  }
  return items;
}

/**
 * An entry of the event as a span of ours, its members copied and no others (what GET
 * /api/traces answers is exactly a RecordedSpan), or undefined when it is not one: the event
 * comes from any node, of any version, and a malformed entry is left out, never thrown on.
 */
function recordedSpanOf(value: unknown): RecordedSpan | undefined {
  if (!isObject(value)) return undefined;
  const { traceId, id, parentId, name, kind, service, nodeId, startTime, durationMs, attributes } = value;
  const error = errorOf(value.error);
  const events = allOf(value.events, eventOf);
  const links = allOf(value.links, linkOf);
  if (
    typeof traceId !== "string" ||
    typeof id !== "string" ||
    (parentId !== null && typeof parentId !== "string") ||
    typeof name !== "string" ||
    !isSpanKind(kind) ||
    (service !== null && typeof service !== "string") ||
    typeof nodeId !== "string" ||
    !isTime(startTime) ||
    !isTime(durationMs) ||
    error === undefined ||
    !isAttributes(attributes) ||
    events === undefined ||
    links === undefined
  ) {
    return undefined;
  }
  return { traceId, id, parentId, name, kind, service, nodeId, startTime, durationMs, error, attributes: { ...attributes }, events, links };
}

/**
 * The in-process collector: the finished spans of every node, as they report them about once
 * a second, kept by trace in memory (bounded) so that the dashboard can draw an order's trace
 * without a tracing backend. It runs beside every gateway, and each gets every node's spans
 * (the exporter broadcasts them): a trace is never split between two gateways.
 */
export function tracesService(limits: TracesServiceOptions = {}): ServiceSchemaFor<TracesThis> {
  return {
    name: "traces",
    mixins: [DomainErrorsMixin(STATUS_OF)],

    events: {
      [SPANS_EVENT](this: TracesThis, ctx: Context<unknown>) {
        if (!Array.isArray(ctx.params)) return;
        this.store.add(ctx.params.map(recordedSpanOf).filter((span) => span !== undefined));
      },
    },

    actions: {
      get: {
        params: {
          $$strict: true,
          traceId: {
            type: "string",
            pattern: /^[0-9a-f]{32}$/,
            messages: { stringPattern: "The '{field}' field must be a W3C trace id: 32 lower-case hex digits." },
          },
        },
        handler(this: TracesThis, ctx: Context<{ traceId: string }>): StoredTrace {
          const trace = this.store.get(ctx.params.traceId);
          if (!trace) {
            throw new DomainError<TraceErrorCode>(
              "TRACE_NOT_FOUND",
              `trace ${ctx.params.traceId} not found: none of its spans was received, or it was evicted`,
            );
          }
          return trace;
        },
      },
    },

    created(this: TracesThis) {
      this.store = new TraceStore(limits);
    },
  };
}

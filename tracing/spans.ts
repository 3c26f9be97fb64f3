import type { Service, ServiceBroker, Span } from "moleculer";
import type { Delivery } from "../adapters/bus/port";
import { KIND_TAG, SpanKind, addLink } from "./recorded-span";
import { TraceContext, formatTraceparent, newTraceId, parseTraceparent, w3cTraceId } from "./trace-context";

/** The header (of a message) and metadata key (of an event) that carry the trace on. */
export const TRACEPARENT = "traceparent";

/** OpenTelemetry's messaging.system of a bus address. */
export function messagingSystem(busUrl: string): string {
  return /^amqps?:/.test(busUrl) ? "rabbitmq" : "in-process";
}

/** The `traceparent` that makes the next span a child of this one. */
export function traceparentOf(span: Span | null | undefined): string | undefined {
  if (!span) return undefined;
  return formatTraceparent({ traceId: w3cTraceId(span.traceID), spanId: span.id, sampled: span.sampled });
}

export interface SpanStart {
  kind: SpanKind;
  /** The span's id, when something else named it already (a bus delivery). */
  id?: string;
  service?: Service;
  tags?: Record<string, unknown>;
}

/**
 * Starts a span whose parent is named by a carried `traceparent` (a stored event's, a message's):
 * a malformed or missing one starts a new trace, as W3C asks. Undefined while tracing is off.
 */
export function startSpanFrom(broker: ServiceBroker, carried: unknown, name: string, { kind, id, service, tags }: SpanStart): Span | undefined {
  if (!broker.isTracingEnabled()) return undefined;
  const parent: TraceContext | undefined = parseTraceparent(carried);
  return broker.tracer.startSpan(name, {
    type: "custom",
    traceID: parent?.traceId ?? newTraceId(),
    parentID: parent?.spanId ?? null,
    ...(parent ? { sampled: parent.sampled } : {}),
    ...(id === undefined ? {} : { id }),
    ...(service ? { service } : {}),
    tags: { ...tags, [KIND_TAG]: kind },
  });
}

/**
 * The span of one delivery of a message to a consumer, a child of the span that published it.
 * A retry is a span of its own, linked to the attempt that failed, with the delay it waited.
 */
export function startDeliverySpan(broker: ServiceBroker, service: Service, delivery: Delivery, system: string, now: Date): Span | undefined {
  const waitedMs = delivery.lastFailureAt === undefined ? undefined : now.getTime() - Date.parse(delivery.lastFailureAt);
  const span = startSpanFrom(broker, delivery.headers[TRACEPARENT], `consume ${delivery.topic}`, {
    kind: "consumer",
    id: delivery.deliveryId,
    service,
    tags: {
      "messaging.system": system,
      "messaging.destination.name": delivery.queue,
      "messaging.message.id": delivery.messageId,
      "messaging.delivery.attempt": delivery.attempt,
      ...(waitedMs === undefined ? {} : { "messaging.retry.waited_ms": waitedMs }),
    },
  });
  if (span && delivery.retryOf !== undefined) {
    addLink(span, {
      traceId: w3cTraceId(span.traceID),
      spanId: delivery.retryOf,
      attributes: { "link.reason": "retry", "messaging.delivery.attempt": delivery.attempt - 1 },
    });
  }
  return span;
}

/** Ends a span, failed when an error is given. */
export function endSpan(span: Span | undefined, error?: unknown): void {
  if (!span) return;
  if (error !== undefined) span.setError(error instanceof Error ? error : new Error(JSON.stringify(error)));
  span.finish();
}

/** Runs `work` in a span, ending it failed when the work throws. */
export async function inSpan<T>(span: Span | undefined, work: () => Promise<T>): Promise<T> {
  try {
    const result = await work();
    endSpan(span);
    return result;
  } catch (error) {
    endSpan(span, error);
    throw error;
  }
}

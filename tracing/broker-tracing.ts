import { BrokerOptions, Middleware, ServiceBroker, Span, TracerExporters } from "moleculer";
import type { TracingConfig } from "../config";
import { KIND_TAG, recordedSpan } from "./recorded-span";
import { newTraceId, w3cTraceId } from "./trace-context";
import { otlpExporter } from "./otlp-exporter";

/** The Moleculer event that carries every node's finished spans to the gateway's collector (services/traces.service.ts). */
export const SPANS_EVENT = "$tracing.spans";
/** Finished spans wait at most this long before they are sent to the collector: the waterfall is a second behind. */
const SPANS_EVENT_INTERVAL_S = 1;

type TracingOptions = Exclude<BrokerOptions["tracing"], boolean | undefined>;
/** A built-in exporter by name and options, or an exporter instance (Moleculer's typings leave instances out). */
type ExporterSpec = { type: string; options?: object } | TracerExporters.Base;

/**
 * Moleculer's Zipkin exporter cuts every id to 16 hex digits: a W3C trace id (32) would lose
 * its half, and two traces that share it would merge. The trace id goes whole (Zipkin takes
 * 128-bit ids), and the span's kind is ours, not always SERVER.
 */
class ZipkinW3cExporter extends TracerExporters.Zipkin {
  override makePayload(span: Span): Record<string, unknown> {
    const payload = super.makePayload(span) as Record<string, unknown>;
    const kind: unknown = span.tags[KIND_TAG];
    return { ...payload, traceId: w3cTraceId(span.traceID), ...(typeof kind === "string" && kind !== "internal" ? { kind: kind.toUpperCase() } : {}) };
  }
}

/** Broker's tracing options: Moleculer's tracer, the gateway's collector feed, and the exporters TRACING_EXPORTERS names. */
export function brokerTracing(config: TracingConfig): BrokerOptions["tracing"] {
  if (!config.enabled) return { enabled: false };
  const exporter: ExporterSpec[] = [
    {
      type: "Event",
      options: {
        eventName: SPANS_EVENT,
        // Every gateway's collector gets every span: a trace split between two would show half.
        broadcast: true,
        interval: SPANS_EVENT_INTERVAL_S,
        spanConverter(this: TracerExporters.Event, span: Span) {
          return recordedSpan(span, this.broker.nodeID);
        },
      },
    },
  ];
  for (const name of config.exporters) {
    switch (name) {
      case "console":
        exporter.push({ type: "Console", options: { logger: console.info, colors: false, width: 100 } });
        break;
      case "zipkin":
        exporter.push(new ZipkinW3cExporter({ baseURL: config.zipkinUrl }));
        break;
      case "otlp":
        exporter.push(otlpExporter({}));
        break;
      default: {
        const unknown: never = name;
        throw new Error(`unknown trace exporter ${String(unknown)}`);
      }
    }
  }
  return {
    enabled: true,
    sampling: { rate: config.sampleRate },
    actions: true,
    events: false,
    exporter: exporter as TracingOptions["exporter"],
  };
}

/**
 * Every call that starts a trace gets a W3C trace id (32 hex digits): Moleculer would take the
 * context's own id, 16 hex digits since the broker's ids are span ids (see brokerOptions).
 * A call made from inside a context or a span carries its trace on.
 */
export function W3cTraceIdsMiddleware(): Middleware {
  return {
    name: "W3cTraceIds",
    call(next: ServiceBroker["call"]) {
      return ((actionName: string, params?: unknown, options?: Record<string, unknown>) => {
        const carried = options?.parentCtx ?? options?.parentSpan ?? options?.requestID;
        return next(actionName, params, carried == null ? { ...options, requestID: newTraceId() } : options);
      }) as ServiceBroker["call"];
    },
    // Moleculer's typings have the `call` hook return a Promise; it returns the wrapped call.
  } as unknown as Middleware;
}

import { SpanKind, SpanStatusCode, TraceFlags, type Attributes, type SpanContext } from "@opentelemetry/api";
import { ExportResultCode, millisToHrTime, type ExportResult } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes, type Resource } from "@opentelemetry/resources";
import type { ReadableSpan } from "@opentelemetry/sdk-trace";
import { TracerExporters, type Logger, type Span, type Tracer } from "moleculer";
import { recordedSpan, type RecordedSpan, type SpanKind as RecordedSpanKind } from "./recorded-span";

export interface OtlpExporterOptions {
  /**
   * The collector's full traces URL (`http://jaeger:4318/v1/traces`). Without it the OTel
   * exporter reads OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, then OTEL_EXPORTER_OTLP_ENDPOINT (plus
   * `/v1/traces`), then takes http://localhost:4318/v1/traces; headers come from
   * OTEL_EXPORTER_OTLP_HEADERS either way.
   */
  url?: string;
  /** The most one export (its retries included) may take; the OTel exporter's (OTEL_EXPORTER_OTLP_TRACES_TIMEOUT, OTEL_EXPORTER_OTLP_TIMEOUT, or 10 s) without it. */
  timeoutMillis?: number;
  /** How often queued spans are sent, in ms. */
  interval?: number;
  /** Spans per export request; a queue this long is sent at once rather than at the next tick. */
  maxBatch?: number;
  /** Spans waiting to be sent past which the oldest are dropped, so an absent collector cannot grow the heap. */
  maxQueue?: number;
  logger?: Logger;
}

export interface OtlpExportCounts {
  exported: number;
  /** Dropped from a full queue before any attempt to send them. */
  dropped: number;
  /** Sent and refused, or not sent because the collector could not be reached. */
  failed: number;
}

const DEFAULT_INTERVAL_MS = 1000;
const DEFAULT_MAX_BATCH = 512;
const DEFAULT_MAX_QUEUE = 10_000;

const SPAN_KINDS: Record<RecordedSpanKind, SpanKind> = {
  server: SpanKind.SERVER,
  client: SpanKind.CLIENT,
  producer: SpanKind.PRODUCER,
  consumer: SpanKind.CONSUMER,
  internal: SpanKind.INTERNAL,
};

/** Only sampled spans reach an exporter (Moleculer's tracer filters them), so every context we send is sampled. */
function sampledContext(traceId: string, spanId: string): SpanContext {
  return { traceId, spanId, traceFlags: TraceFlags.SAMPLED };
}

function readableSpan(span: RecordedSpan, resource: Resource): ReadableSpan {
  const context = sampledContext(span.traceId, span.id);
  const attributes: Attributes = { ...span.attributes };
  if (span.service) attributes["moleculer.service"] = span.service;
  if (span.error) attributes["error.type"] = span.error.name;
  return {
    name: span.name,
    kind: SPAN_KINDS[span.kind],
    spanContext: () => context,
    ...(span.parentId ? { parentSpanContext: sampledContext(span.traceId, span.parentId) } : {}),
    startTime: millisToHrTime(span.startTime),
    endTime: millisToHrTime(span.startTime + span.durationMs),
    duration: millisToHrTime(span.durationMs),
    status: span.error ? { code: SpanStatusCode.ERROR, message: span.error.message } : { code: SpanStatusCode.UNSET },
    attributes,
    links: span.links.map((link) => ({ context: sampledContext(link.traceId, link.spanId), attributes: link.attributes })),
    events: span.events.map((event) => ({ name: event.name, time: millisToHrTime(event.time), attributes: event.attributes })),
    ended: true,
    resource,
    instrumentationScope: { name: "glitchbuster" },
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0,
  };
}

/**
 * Moleculer's finished spans to any OTLP/HTTP receiver (Jaeger, Tempo, an OTel collector), as
 * OTLP JSON through OpenTelemetry's own exporter, which owns the wire format, the env
 * configuration and the retries. At most one export is in flight: while the collector is slow
 * spans wait in a bounded queue instead of piling up requests.
 */
export class OtlpTraceExporter extends TracerExporters.Base {
  private readonly options: Required<Pick<OtlpExporterOptions, "interval" | "maxBatch" | "maxQueue">>;
  private readonly otlp: OTLPTraceExporter;
  private timer: NodeJS.Timeout | undefined;
  private queue: RecordedSpan[] = [];
  private draining: Promise<void> | undefined;
  private stopped = false;
  private droppedSinceWarning = 0;
  private readonly tally: OtlpExportCounts = { exported: 0, dropped: 0, failed: 0 };

  constructor({
    logger,
    url,
    timeoutMillis,
    interval = DEFAULT_INTERVAL_MS,
    maxBatch = DEFAULT_MAX_BATCH,
    maxQueue = DEFAULT_MAX_QUEUE,
  }: OtlpExporterOptions = {}) {
    super(logger ? { logger } : {});
    this.options = { interval, maxBatch, maxQueue };
    this.otlp = new OTLPTraceExporter({ ...(url ? { url } : {}), ...(timeoutMillis ? { timeoutMillis } : {}) });
  }

  override init(tracer: Tracer): void {
    super.init(tracer);
    this.timer = setInterval(() => void this.flush(), this.options.interval);
    this.timer.unref();
  }

  counts(): OtlpExportCounts {
    return { ...this.tally };
  }

  override spanFinished(span: Span): void {
    if (this.stopped) return;
    this.queue.push(recordedSpan(span, this.broker.nodeID));
    const excess = this.queue.length - this.options.maxQueue;
    if (excess > 0) {
      this.queue.splice(0, excess);
      this.tally.dropped += excess;
      this.droppedSinceWarning += excess;
    }
    if (this.queue.length >= this.options.maxBatch) void this.flush();
  }

  /** Sends every queued span, the ones that arrive meanwhile too; resolves (never rejects) when the queue is empty or an export failed. */
  flush(): Promise<void> {
    this.draining ??= this.drain().finally(() => (this.draining = undefined));
    return this.draining;
  }

  /** Sends what is queued, bounded by one export's timeout when the collector is gone, then lets the OTel exporter go. */
  // eslint-disable-next-line @typescript-eslint/no-misused-promises -- Moleculer's tracer waits for what stop() returns (Promise.all in tracer.js); its typings say void
  override async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.flush();
    if (this.queue.length > 0) {
      this.tally.failed += this.queue.length;
      this.logger.warn(`OTLP exporter stopped with ${this.queue.length} spans unsent: the collector did not take the last export.`);
      this.queue = [];
    }
    await this.otlp.shutdown();
  }

  private async drain(): Promise<void> {
    if (this.droppedSinceWarning > 0) {
      this.logger.warn(`OTLP exporter dropped ${this.droppedSinceWarning} spans: more than ${this.options.maxQueue} were waiting for the collector.`);
      this.droppedSinceWarning = 0;
    }
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.options.maxBatch);
      // A collector that failed one batch would most likely fail the next: the rest waits for the next tick.
      if (!(await this.send(batch))) return;
    }
  }

  private send(batch: RecordedSpan[]): Promise<boolean> {
    const resource = resourceFromAttributes({ "service.name": "glitchbuster", "service.instance.id": this.broker.nodeID });
    return new Promise((resolve) => {
      const settle = (result: ExportResult) => {
        if (result.code === ExportResultCode.SUCCESS) {
          this.tally.exported += batch.length;
        } else {
          this.tally.failed += batch.length;
          this.logger.warn(`OTLP export of ${batch.length} spans failed: ${result.error?.message ?? "no reason given"}`);
        }
        resolve(result.code === ExportResultCode.SUCCESS);
      };
      try {
        this.otlp.export(
          batch.map((span) => readableSpan(span, resource)),
          settle,
        );
      } catch (error) {
        settle({ code: ExportResultCode.FAILED, error: error instanceof Error ? error : new Error(String(error)) });
      }
    });
  }
}

/** For the broker's `tracing.exporter` list. */
export function otlpExporter(options: OtlpExporterOptions = {}): OtlpTraceExporter {
  return new OtlpTraceExporter(options);
}

import type { RecordedSpan } from "./recorded-span";

/** One trace as the store answers it: its spans in the order they started. */
export interface StoredTrace {
  traceId: string;
  /** By startTime, then id: the order a waterfall draws them in, the same on every read. */
  spans: RecordedSpan[];
  /** Spans that arrived once the trace held maxSpansPerTrace, and were not kept. */
  droppedSpans: number;
}

export interface TraceStoreLimits {
  /** Traces kept: past it, the one that received a span least recently goes, whole. */
  maxTraces?: number;
  /** Spans kept of one trace: a runaway trace (a message redelivered forever) cannot take the store's memory. */
  maxSpansPerTrace?: number;
  /** Spans kept in all (~1.5 KB each): past it, the traces that received a span least recently go, whole, as past maxTraces. */
  maxSpans?: number;
}

export const DEFAULT_MAX_TRACES = 1000;
export const DEFAULT_MAX_SPANS_PER_TRACE = 1000;
/** About 1,100 orders of 18 spans, ~30 MB: what the waterfall needs of the recent past, not a tracing backend. */
export const DEFAULT_MAX_SPANS = 20_000;

interface HeldTrace {
  /** By span id: a span that arrives twice (a flush retried, two exporters) is kept once. */
  spans: Map<string, RecordedSpan>;
  droppedSpans: number;
}

/**
 * The spans that the nodes report, grouped by trace, in memory and bounded: a trace is
 * looked at while its order is recent, so the traces that received spans last are the ones
 * kept. Reading a trace does not keep it longer: what stays follows the cluster's work, not
 * whoever reads.
 */
export class TraceStore {
  /** By trace id, the trace that received a span least recently first (a Map iterates in insertion order). */
  private readonly traces = new Map<string, HeldTrace>();
  private readonly maxTraces: number;
  private readonly maxSpansPerTrace: number;
  private readonly maxSpans: number;
  private spanCount = 0;

  constructor({ maxTraces = DEFAULT_MAX_TRACES, maxSpansPerTrace = DEFAULT_MAX_SPANS_PER_TRACE, maxSpans = DEFAULT_MAX_SPANS }: TraceStoreLimits = {}) {
    this.maxTraces = positive("maxTraces", maxTraces);
    this.maxSpansPerTrace = positive("maxSpansPerTrace", maxSpansPerTrace);
    this.maxSpans = positive("maxSpans", maxSpans);
  }

  /** Traces held now. */
  get size(): number {
    return this.traces.size;
  }

  /** Spans held now, in all traces. */
  get spans(): number {
    return this.spanCount;
  }

  add(spans: Iterable<RecordedSpan>): void {
    for (const span of spans) {
      const trace = this.traces.get(span.traceId) ?? { spans: new Map<string, RecordedSpan>(), droppedSpans: 0 };
      if (!trace.spans.has(span.id)) {
        if (trace.spans.size < this.maxSpansPerTrace) {
          trace.spans.set(span.id, span);
          this.spanCount += 1;
        } else {
          trace.droppedSpans += 1;
        }
      }
      this.traces.delete(span.traceId);
      this.traces.set(span.traceId, trace);
      this.evict();
    }
  }

  get(traceId: string): StoredTrace | undefined {
    const trace = this.traces.get(traceId);
    if (!trace) return undefined;
    return { traceId, spans: [...trace.spans.values()].sort(byStart), droppedSpans: trace.droppedSpans };
  }

  /** Drops the traces that received a span least recently, whole, while a limit is passed; never the one just added to. */
  private evict(): void {
    while (this.traces.size > 1 && (this.traces.size > this.maxTraces || this.spanCount > this.maxSpans)) {
      const [oldest, trace] = this.traces.entries().next().value!;
      this.traces.delete(oldest);
      this.spanCount -= trace.spans.size;
    }
  }
}

function positive(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer, got ${value}`);
  return value;
}

function byStart(a: RecordedSpan, b: RecordedSpan): number {
  if (a.startTime !== b.startTime) return a.startTime - b.startTime;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

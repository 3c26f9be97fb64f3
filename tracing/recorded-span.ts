import type { Span } from "moleculer";
import { w3cTraceId } from "./trace-context";

export type AttributeValue = string | number | boolean;
export type Attributes = Record<string, AttributeValue>;

/** OpenTelemetry's span kinds: what the span's work was to the trace. */
export type SpanKind = "server" | "client" | "producer" | "consumer" | "internal";

/** A span that follows from another without being its child: a redelivery from the attempt that failed. */
export interface SpanLink {
  traceId: string;
  spanId: string;
  attributes: Attributes;
}

export interface SpanEvent {
  name: string;
  /** Epoch ms. */
  time: number;
  attributes: Attributes;
}

/**
 * A finished span as the exporters of this project see it, whatever made it: Moleculer's
 * action spans and the bus's message spans alike.
 */
export interface RecordedSpan {
  traceId: string;
  id: string;
  parentId: string | null;
  name: string;
  kind: SpanKind;
  /** The Moleculer service that did the work, when one did. */
  service: string | null;
  nodeId: string;
  /** Epoch ms, with fractions. */
  startTime: number;
  durationMs: number;
  error: { name: string; message: string; code?: number; type?: string } | null;
  attributes: Attributes;
  events: SpanEvent[];
  links: SpanLink[];
}

/** Tags of our spans that name their kind and links (Moleculer's Span has neither). */
export const KIND_TAG = "span.kind";
const LINKS = Symbol("span links");

type LinkedSpan = Span & { [LINKS]?: SpanLink[] };

export function addLink(span: Span, link: SpanLink): void {
  const linked = span as LinkedSpan;
  (linked[LINKS] ??= []).push(link);
}

export function linksOf(span: Span): SpanLink[] {
  return (span as LinkedSpan)[LINKS] ?? [];
}

/**
 * Nesting kept as attribute names: deeper objects (an action's params can hold anything) are
 * cut there, which also ends a cycle, since this runs inside the traced call's finish.
 */
const MAX_ATTRIBUTE_DEPTH = 4;

/** Moleculer's nested tags as flat OpenTelemetry attributes ("action.name"); arrays as JSON, nulls left out. */
export function flatAttributes(tags: Record<string, unknown>, prefix = "", into: Attributes = {}, depth = 0): Attributes {
  for (const [key, value] of Object.entries(tags)) {
    const name = prefix ? `${prefix}.${key}` : key;
    if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") into[name] = value;
    else if (Array.isArray(value)) into[name] = safeJson(value);
    else if (value !== null && typeof value === "object" && depth < MAX_ATTRIBUTE_DEPTH)
      flatAttributes(value as Record<string, unknown>, name, into, depth + 1);
  }
  return into;
}

function safeJson(value: unknown[]): string {
  try {
    return JSON.stringify(value);
  } catch {
    return "[unserialisable]";
  }
}

function kindOf(span: Span): SpanKind {
  const tagged: unknown = span.tags[KIND_TAG];
  if (tagged === "server" || tagged === "client" || tagged === "producer" || tagged === "consumer" || tagged === "internal") return tagged;
  return span.type === "action" ? "server" : "internal";
}

function errorOf(error: Span["error"]): RecordedSpan["error"] {
  if (!error) return null;
  if (error === true) return { name: "Error", message: "" };
  const { code, type } = error as Error & { code?: unknown; type?: unknown };
  return {
    name: error.name,
    message: error.message,
    ...(typeof code === "number" ? { code } : {}),
    ...(typeof type === "string" ? { type } : {}),
  };
}

/**
 * Moleculer stamps a span's start with Date.now(), whole milliseconds, and keeps the start's
 * performance.now() beside it: spans started in one millisecond (a saga's steps, in one
 * process) keep their order only at the finer clock. Events are moved with the start.
 */
function preciseStart(span: Span): number {
  const coarse = span.startTime ?? 0;
  return span.startTicks === null ? coarse : performance.timeOrigin + span.startTicks;
}

export function recordedSpan(span: Span, nodeId: string): RecordedSpan {
  const { [KIND_TAG]: _kind, ...tags } = span.tags as Record<string, unknown>;
  const startTime = preciseStart(span);
  const shift = startTime - (span.startTime ?? startTime);
  return {
    traceId: w3cTraceId(span.traceID),
    id: span.id,
    parentId: span.parentID ?? null,
    name: span.name,
    kind: kindOf(span),
    service: span.service?.fullName ?? span.service?.name ?? null,
    nodeId,
    startTime,
    durationMs: span.duration ?? 0,
    error: errorOf(span.error),
    attributes: flatAttributes(tags),
    events: span.logs.map(({ name, time, fields }) => ({ name, time: time + shift, attributes: flatAttributes(fields as Record<string, unknown>) })),
    links: linksOf(span),
  };
}

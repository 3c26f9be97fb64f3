import { randomUUID } from "node:crypto";

/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/): the `traceparent` that carries a
 * trace across HTTP, stored events and bus messages. Moleculer's own ids become W3C ids: the
 * broker generates 16-hex context (span) ids, and every trace id is 32 hex.
 */
export interface TraceContext {
  /** 32 lower-case hex digits, not all zero. */
  traceId: string;
  /** The span that the next one is a child of: 16 lower-case hex digits, not all zero. */
  spanId: string;
  sampled: boolean;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const ZERO_TRACE_ID = "0".repeat(32);
const ZERO_SPAN_ID = "0".repeat(16);

/**
 * The context a `traceparent` names, or undefined for a malformed one (which the standard says
 * to ignore: the receiver starts a new trace). Version ff is invalid; a later version than 00
 * is read as 00 when its first four fields parse, as the standard asks.
 */
export function parseTraceparent(header: unknown): TraceContext | undefined {
  if (typeof header !== "string" || header.length > 512) return undefined;
  const match = TRACEPARENT.exec(header.trim());
  if (!match) return undefined;
  const [, version, traceId, spanId, flags, rest] = match as unknown as [string, string, string, string, string, string | undefined];
  if (version === "ff" || (version === "00" && rest !== undefined)) return undefined;
  if (traceId === ZERO_TRACE_ID || spanId === ZERO_SPAN_ID) return undefined;
  return { traceId, spanId, sampled: (parseInt(flags, 16) & 1) === 1 };
}

export function formatTraceparent({ traceId, spanId, sampled }: TraceContext): string {
  return `00-${traceId}-${spanId}-${sampled ? "01" : "00"}`;
}

/** 62 random bits in 16 hex digits: the tail of a v4 UUID (Node keeps a pool of entropy for those). */
export function newSpanId(): string {
  return randomUUID().slice(19).replace("-", "");
}

/** 122 random bits in 32 hex digits. */
export function newTraceId(): string {
  return randomUUID().replaceAll("-", "");
}

/**
 * A trace id as W3C spells it. A context Moleculer starts with no trace of ours around it (a
 * timer's call) takes its own 16-hex id as its trace id: W3C's way for a 64-bit trace id is
 * to pad it with zeros, so every exporter and the in-process collector see one id per trace.
 */
export function w3cTraceId(id: string): string {
  return id.length === 32 ? id : id.padStart(32, "0");
}

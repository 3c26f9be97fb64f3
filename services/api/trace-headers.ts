import type { IncomingHttpHeaders } from "node:http";
import { CORRELATION_ID_META } from "../shared/event-metadata";
import { newTraceId, parseTraceparent } from "../../tracing/trace-context";

/** A client's X-Request-ID, kept as the correlation id of what its request causes: short and printable, or ignored. */
const REQUEST_ID = /^[\x21-\x7e]{1,128}$/;

export interface RootCallOptions {
  requestID: string;
  parentSpan?: { id: string; traceID: string; sampled: boolean };
  meta?: Record<string, unknown>;
}

/**
 * The options of the call that serves an HTTP request: it continues the caller's trace when a
 * valid `traceparent` names one (a malformed one is ignored, as W3C asks), or starts one. The
 * trace id is the request's id: X-Request-ID answers it, and GET /api/traces/:id shows it.
 */
export function rootCallOptions(headers: IncomingHttpHeaders): RootCallOptions {
  const parent = parseTraceparent(headers.traceparent);
  const requestId = headers["x-request-id"];
  return {
    requestID: parent?.traceId ?? newTraceId(),
    ...(parent ? { parentSpan: { id: parent.spanId, traceID: parent.traceId, sampled: parent.sampled } } : {}),
    ...(typeof requestId === "string" && REQUEST_ID.test(requestId) ? { meta: { [CORRELATION_ID_META]: requestId } } : {}),
  };
}

import { Context } from "moleculer";
import { EventMetadata } from "../../adapters/event-store";
import { adminOf } from "../../middlewares/admin-audit";
import { TRACEPARENT, traceparentOf } from "../../tracing/spans";

/** Where the gateway puts the client's X-Request-ID: the correlation id of everything the request causes. */
export const CORRELATION_ID_META = "correlationId";

/**
 * Metadata of the events a request causes: its correlation id follows the whole flow (the
 * client's X-Request-ID, else the trace id); the traceparent makes what handles the event a
 * child of the span that recorded it; an admin's request names the admin.
 */
export function eventMetadata(ctx: Context, occurredAt: string, extra: Record<string, unknown> = {}): EventMetadata {
  const actor = adminOf(ctx);
  const correlationId = (ctx.meta as Record<string, unknown>)[CORRELATION_ID_META];
  const traceparent = traceparentOf(ctx.span);
  return {
    ...extra,
    correlationId: typeof correlationId === "string" ? correlationId : (ctx.requestID ?? ctx.id),
    causationId: ctx.id,
    occurredAt,
    ...(traceparent === undefined ? {} : { [TRACEPARENT]: traceparent }),
    ...(actor === undefined ? {} : { actor }),
  };
}

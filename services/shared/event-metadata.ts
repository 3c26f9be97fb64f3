import { Context } from "moleculer";
import { EventMetadata } from "../../adapters/event-store";

/** Metadata of the events a request causes: its correlation id follows the whole flow. */
export function eventMetadata(ctx: Context, occurredAt: string, extra: Record<string, unknown> = {}): EventMetadata {
  return { ...extra, correlationId: ctx.requestID ?? ctx.id, causationId: ctx.id, occurredAt };
}

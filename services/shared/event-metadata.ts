import { Context } from "moleculer";
import { EventMetadata } from "../../adapters/event-store";
import { adminOf } from "../../middlewares/admin-audit";

/** Metadata of the events a request causes: its correlation id follows the whole flow; an admin's request names the admin. */
export function eventMetadata(ctx: Context, occurredAt: string, extra: Record<string, unknown> = {}): EventMetadata {
  const actor = adminOf(ctx);
  return { ...extra, correlationId: ctx.requestID ?? ctx.id, causationId: ctx.id, occurredAt, ...(actor === undefined ? {} : { actor }) };
}

import { ActionSchema, Context, Logger, Middleware, ServiceBroker } from "moleculer";

/** An action handler as a middleware wraps it: Moleculer always hands it a Promise-returning one. */
type Handler = (ctx: Context) => Promise<unknown>;

/**
 * The name of the admin whose token the gateway accepted, in the call's meta: it travels with
 * every call the request causes, so each event it leads to records who did it
 * (services/shared/event-metadata.ts) and this middleware logs each admin action once.
 */
export const ADMIN_META_KEY = "admin";

/** Set in the meta of the first call an admin's request makes, so that the calls it makes in turn (which inherit the meta) are not logged again. */
const AUDITED_META_KEY = "adminAudited";
/** A JSON Patch or a long reason must not flood the log. */
const MAX_LOGGED_PARAMS = 500;

/** The admin behind this call, if an admin route started it. */
export function adminOf(ctx: Context): string | undefined {
  const meta: object = ctx.meta;
  return ADMIN_META_KEY in meta && typeof meta[ADMIN_META_KEY] === "string" ? meta[ADMIN_META_KEY] : undefined;
}

/**
 * The audit trail of admin routes: who called which action with what, and how it ended, one
 * line per admin request on the node that ran the action the route names (the calls it makes
 * in turn carry the mark in their meta, on any node, and are not logged again). Chaos settings
 * and rebuilds leave no event behind, so this line is their record.
 */
export function AdminAuditMiddleware(): Middleware {
  let logger: Logger | undefined;
  return {
    name: "AdminAudit",
    created(broker: ServiceBroker) {
      logger = broker.getLogger("audit");
    },
    localAction(next: Handler, action: ActionSchema): Handler {
      return (ctx) => {
        const admin = adminOf(ctx);
        const meta: Record<string, unknown> = ctx.meta;
        if (admin === undefined || meta[AUDITED_META_KEY] === true) return next(ctx);
        meta[AUDITED_META_KEY] = true;
        const call = `admin ${admin}: ${action.name ?? "?"} ${JSON.stringify(ctx.params ?? {}).slice(0, MAX_LOGGED_PARAMS)}`;
        return next(ctx).then(
          (result) => {
            logger?.info(`${call} → done`);
            return result;
          },
          (error: unknown) => {
            logger?.warn(`${call} → refused or failed: ${error instanceof Error ? error.message : String(error)}`);
            throw error;
          },
        );
      };
    },
  };
}

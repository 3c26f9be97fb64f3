/** Every route of the gateway as "METHOD /path" (under /api) → action: moleculer-web's aliases. */
export const PUBLIC_ALIASES = {
  "POST /orders": "orders.create",
  "GET /orders": "orders.list",
  "GET /orders/:id": "orders.get",
  "GET /orders/:id/events": "orders.history",
  "POST /orders/:id/cancel": "orders.cancel",
  "GET /sagas": "orchestrator.list",
  "GET /sagas/:orderId": "orchestrator.get",
  "GET /traces/:traceId": "traces.get",
  "GET /dlq": "dlq.list",
  "GET /dlq/groups": "dlq.groups",
  "GET /dlq/jobs": "dlq.jobs",
  "GET /dlq/jobs/:id": "dlq.job",
  "GET /dlq/:id": "dlq.show",
  "GET /chaos": "api.chaos",
  "GET /resilience": "api.resilience",
  "GET /health": "api.health",
  "GET /openapi.json": "api.openapi",
  "GET /projections/orders": "orders.projection",
  "GET /projections/dead-letters": "dlq.projection",
  "GET /projections/sagas": "orchestrator.projection",
} as const;

/** Changes to chaos, to the DLQ and projection rebuilds: Authorization: Bearer <ADMIN_TOKEN>. */
export const ADMIN_ALIASES = {
  "PUT /chaos/:service": "api.setChaos",
  "POST /dlq/replay": "dlq.replayAll",
  "POST /dlq/:id/replay": "dlq.replay",
  "DELETE /dlq/:id": "dlq.purge",
  "PATCH /dlq/:id": "dlq.edit",
  "POST /dlq/groups/:group/purge": "dlq.purgeGroup",
  "POST /dlq/jobs/:id/cancel": "dlq.cancelJob",
  "POST /projections/orders/rebuild": "orders.rebuildProjection",
  "POST /projections/dead-letters/rebuild": "dlq.rebuildProjection",
  "POST /projections/sagas/rebuild": "orchestrator.rebuildProjection",
  "POST /sagas/:orderId/retry": "orchestrator.retry",
  "POST /sagas/:orderId/cancel": "orchestrator.cancel",
} as const;

export const API_PATH = "/api";
/** The dashboard's feed, served beside the aliases (services/api/live-feed.ts). */
export const LIVE_PATH = `${API_PATH}/live`;

interface Route {
  method: string;
  pattern: RegExp;
}

const ROUTES: Route[] = [...Object.keys(PUBLIC_ALIASES), ...Object.keys(ADMIN_ALIASES), `GET ${LIVE_PATH.slice(API_PATH.length)}`].map((alias) => {
  const [method = "", path = ""] = alias.split(" ");
  const segments = path.split("/").map((segment) => (segment.startsWith(":") ? "[^/]+" : segment.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")));
  return { method, pattern: new RegExp(`^${API_PATH}${segments.join("/")}/?$`) };
});

/** The methods some route takes at this path (no query string), in the order declared. */
export function methodsAt(path: string): string[] {
  return [...new Set(ROUTES.filter((route) => route.pattern.test(path)).map((route) => route.method))];
}

/** The path of a request URL, without its query string. */
export function pathOf(url: string | undefined): string {
  const path = url ?? "/";
  const query = path.indexOf("?");
  return query === -1 ? path : path.slice(0, query);
}

import { IncomingMessage, Server, ServerResponse } from "node:http";
import { join } from "node:path";
import { Context, Errors, Service } from "moleculer";
import ApiGateway, { ApiSettingsSchema } from "moleculer-web";
import { ChaosSettings } from "../config";
import { CHAOS_MODES, CHAOS_TARGETS, ChaosTarget, MAX_CHAOS_LATENCY_MS, configureChaos, readChaos } from "../mixins/chaos.mixin";
import { projectRoot } from "../lib/project-root";
import { ServiceSchemaFor } from "../lib/service-schema";
import { AdminToken } from "./api/admin-token";
import { toErrorBody } from "./api/http-errors";
import { jsonBody } from "./api/json-body";
import { liveSnapshot } from "./api/live-snapshot";
import { ClusterResilience, gatherResilience } from "./resilience-report";

export interface ApiServiceOptions {
  port: number;
  /** Address to bind (HOST). */
  ip: string;
  /** ADMIN_TOKEN; a random one is generated (and printed once) when unset. */
  adminToken: string | undefined;
}

type GatewayRequest = IncomingMessage & { $alias?: { action?: string }; $params?: Record<string, unknown> };
/** What moleculer-web reads from the context's meta to shape the answer. */
interface GatewayMeta {
  $statusCode?: number;
  $location?: string;
  $responseHeaders?: Record<string, string>;
}
type ApiThis = Service & { server: Server; adminToken: AdminToken; liveFeeds: Set<ServerResponse> };

const LIVE_INTERVAL_MS = 1000;

/** A dependency the health route asks, and the action that answers for it. */
const HEALTH_CHECKS = [
  { name: "orders", action: "orders.health" },
  { name: "relay", action: "relay.health" },
] as const;
const INTERNAL_CALL_TIMEOUT_MS = 2000;

interface HealthCheck {
  status: "up" | "down";
  error?: string;
}

/** Routes shared by both routes of the gateway: JSON bodies, one error shape. */
const commonRoute = { path: "/api", mappingPolicy: "restrict", bodyParsers: false, use: jsonBody } as const;

export function apiService({ port, ip, adminToken }: ApiServiceOptions): ServiceSchemaFor<ApiThis, ApiSettingsSchema> {
  return {
    name: "api",
    mixins: [ApiGateway],
    settings: {
      port,
      ip,
      // The dashboard, at /.
      assets: { folder: join(projectRoot(), "public") },
      logRequest: "debug",
      logResponse: "debug",
      routes: [
        {
          // Both routes share the /api path: moleculer-web tells them apart by name.
          name: "public",
          ...commonRoute,
          aliases: {
            "POST /orders": "orders.create",
            "GET /orders": "orders.list",
            "GET /orders/:id": "orders.get",
            "GET /orders/:id/events": "orders.history",
            "POST /orders/:id/cancel": "orders.cancel",
            "GET /sagas/:orderId": "orchestrator.get",
            "GET /dlq": "dlq.list",
            "GET /dlq/:id": "dlq.show",
            "GET /chaos": "api.chaos",
            "GET /resilience": "api.resilience",
            "GET /health": "api.health",
            // The dashboard's feed: a snapshot every second, as server-sent events.
            "GET /live"(this: ApiThis, req: IncomingMessage, res: ServerResponse) {
              res.writeHead(200, { "Content-Type": "text/event-stream", "Cache-Control": "no-cache", Connection: "keep-alive" });
              const push = () =>
                liveSnapshot(this.broker).then(
                  (snapshot) => void res.write(`data: ${JSON.stringify(snapshot)}\n\n`),
                  (error: Error) => this.logger.warn(`live snapshot failed: ${error.message}`),
                );
              void push();
              const timer = setInterval(push, LIVE_INTERVAL_MS);
              this.liveFeeds.add(res);
              req.on("close", () => {
                clearInterval(timer);
                this.liveFeeds.delete(res);
              });
            },
          },
          onBeforeCall(_ctx: Context, _route: unknown, req: GatewayRequest) {
            const key = req.headers["idempotency-key"];
            if (req.$alias?.action === "orders.create" && typeof key === "string" && req.$params) {
              req.$params.idempotencyKey = key;
            }
          },
          onAfterCall(ctx: Context<unknown, GatewayMeta>, _route: unknown, req: GatewayRequest, _res: ServerResponse, data: { id?: string }) {
            if (req.$alias?.action === "orders.create" && data?.id) {
              ctx.meta.$statusCode = 201;
              ctx.meta.$location = `/api/orders/${data.id}`;
            }
            return data;
          },
        },
        {
          // Changes to chaos and to the DLQ: Authorization: Bearer <ADMIN_TOKEN>.
          name: "admin",
          ...commonRoute,
          authorization: true,
          aliases: {
            "PUT /chaos/:service": "api.setChaos",
            "POST /dlq/replay": "dlq.replayAll",
            "POST /dlq/:id/replay": "dlq.replay",
            "DELETE /dlq/:id": "dlq.purge",
          },
        },
      ],
      onError(this: ApiThis, _req: IncomingMessage, res: ServerResponse, error: unknown) {
        const body = toErrorBody(error);
        if (body.code >= 500) this.logger.error("request failed", error);
        res.setHeader("Content-Type", "application/json; charset=utf-8");
        if (body.code === 401) res.setHeader("WWW-Authenticate", 'Bearer realm="glitchbuster admin"');
        res.writeHead(body.code);
        res.end(JSON.stringify(body));
      },
    },

    actions: {
      health: {
        async handler(this: ApiThis, ctx: Context<unknown, GatewayMeta>) {
          const checks: Record<string, HealthCheck> = {};
          for (const { name, action } of HEALTH_CHECKS) {
            try {
              const reported = await ctx.call<Record<string, HealthCheck>, object>(action, {}, { timeout: INTERNAL_CALL_TIMEOUT_MS, retries: 0 });
              Object.assign(checks, { [name]: { status: "up" } }, reported);
            } catch (error) {
              checks[name] = { status: "down", error: (error as Error).message };
            }
          }
          const healthy = Object.values(checks).every((check) => check.status === "up");
          if (!healthy) ctx.meta.$statusCode = 503;
          return { status: healthy ? "ok" : "unavailable", checks };
        },
      },

      chaos: {
        async handler(this: ApiThis, ctx: Context) {
          const readings = await readChaos(ctx);
          return Object.fromEntries(readings.map(({ service, reading }) => [service, reading]));
        },
      },

      setChaos: {
        params: {
          $$strict: true,
          service: { type: "enum", values: [...CHAOS_TARGETS] },
          failureRate: { type: "number", min: 0, max: 1, optional: true },
          latencyMs: { type: "number", integer: true, min: 0, max: MAX_CHAOS_LATENCY_MS, optional: true },
          mode: { type: "enum", values: [...CHAOS_MODES], optional: true },
        },
        handler(this: ApiThis, ctx: Context<{ service: ChaosTarget } & Partial<ChaosSettings>>): Promise<ChaosSettings> {
          const { service, ...changes } = ctx.params;
          return configureChaos(ctx, service, changes);
        },
      },

      resilience: {
        handler(this: ApiThis, ctx: Context): Promise<ClusterResilience> {
          return gatherResilience(ctx);
        },
      },
    },

    methods: {
      authorize(this: ApiThis, _ctx: Context, _route: unknown, req: IncomingMessage) {
        const header = req.headers.authorization;
        if (!header) throw new Errors.MoleculerClientError("this route needs Authorization: Bearer <admin token>", 401, "UNAUTHORIZED");
        const token = /^Bearer (.+)$/i.exec(header)?.[1];
        if (!token || !this.adminToken.matches(token)) {
          throw new Errors.MoleculerClientError("the admin token is not valid", 403, "FORBIDDEN");
        }
      },
    },

    // The gateway waits for open connections when it closes: the live feeds end first.
    stopped() {
      for (const feed of this.liveFeeds) feed.end();
    },

    created() {
      this.liveFeeds = new Set();
      this.adminToken = AdminToken.fromEnvironment(adminToken, (generated) =>
        this.logger.warn(`ADMIN_TOKEN is not set: admin routes take this generated token for this run: ${generated}`),
      );
    },
  };
}

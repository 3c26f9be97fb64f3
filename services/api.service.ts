import { IncomingMessage, Server, ServerResponse } from "node:http";
import { Context, Errors, Service, ServiceSchema } from "moleculer";
import ApiGateway from "moleculer-web";
import { ChaosSettings } from "../config";
import { CHAOS_MODES, CHAOS_TARGETS, ChaosTarget, MAX_CHAOS_LATENCY_MS, configureChaos, readChaos } from "../mixins/chaos.mixin";
import { AdminToken } from "./api/admin-token";
import { toErrorBody } from "./api/http-errors";
import { jsonBody } from "./api/json-body";
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
type ApiThis = Service & { server: Server; adminToken: AdminToken };

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

export function apiService({ port, ip, adminToken }: ApiServiceOptions): ServiceSchema {
  return {
    name: "api",
    mixins: [ApiGateway],
    settings: {
      port,
      ip,
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

    created() {
      this.adminToken = AdminToken.fromEnvironment(adminToken, (generated) =>
        this.logger.warn(`ADMIN_TOKEN is not set: admin routes take this generated token for this run: ${generated}`),
      );
    },
  };
}

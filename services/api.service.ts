import { IncomingMessage, ServerResponse } from "node:http";
import { Context, Service, ServiceSchema } from "moleculer";
import ApiGateway from "moleculer-web";
import { toErrorBody } from "./api/http-errors";
import { jsonBody } from "./api/json-body";

export interface ApiServiceOptions {
  port: number;
  /** Address to bind (HOST). */
  ip: string;
}

type GatewayRequest = IncomingMessage & { $alias?: { action?: string }; $params?: Record<string, unknown> };
/** What moleculer-web reads from the context's meta to shape the answer. */
interface GatewayMeta {
  $statusCode?: number;
  $location?: string;
}
type ApiThis = Service & { server: import("node:http").Server };

/** A dependency the health route asks, and the action that answers for it. */
const HEALTH_CHECKS = [
  { name: "orders", action: "orders.health" },
  { name: "relay", action: "relay.health" },
] as const;
const HEALTH_TIMEOUT_MS = 2000;

interface HealthCheck {
  status: "up" | "down";
  error?: string;
}

export function apiService({ port, ip }: ApiServiceOptions): ServiceSchema {
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
          path: "/api",
          mappingPolicy: "restrict",
          bodyParsers: false,
          use: jsonBody,
          aliases: {
            "POST /orders": "orders.create",
            "GET /orders": "orders.list",
            "GET /orders/:id": "orders.get",
            "GET /orders/:id/events": "orders.history",
            "POST /orders/:id/cancel": "orders.cancel",
            "GET /sagas/:orderId": "orchestrator.get",
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
      ],
      onError(this: ApiThis, _req: IncomingMessage, res: ServerResponse, error: unknown) {
        const body = toErrorBody(error);
        if (body.code >= 500) this.logger.error("request failed", error);
        res.setHeader("Content-Type", "application/json; charset=utf-8");
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
              const reported = await ctx.call<Record<string, HealthCheck>, object>(action, {}, { timeout: HEALTH_TIMEOUT_MS, retries: 0 });
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
    },
  };
}

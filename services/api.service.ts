import { IncomingMessage, Server, ServerResponse } from "node:http";
import { join } from "node:path";
import { Context, Errors, Service } from "moleculer";
import ApiGateway, { ApiSettingsSchema } from "moleculer-web";
import { ChaosSettings } from "../config";
import { CHAOS_MODES, CHAOS_TARGETS, ChaosTarget, MAX_CHAOS_LATENCY_MS, configureChaos, readChaos } from "../mixins/chaos.mixin";
import { timeOrderedUuid } from "./shared/ids";
import { Clock, systemClock } from "../adapters/clock";
import { projectRoot } from "./api/project-root";
import { ServiceSchemaFor } from "./shared/service-schema";
import { AdminTokens, NamedToken } from "./api/admin-token";
import { ADMIN_META_KEY } from "../middlewares/admin-audit";
import { allowOrigin, answerOptions } from "./api/cors";
import { toErrorBody } from "./api/http-errors";
import { commandsTakeTheirBodyOnly, jsonBody } from "./api/json-body";
import { LiveFeed } from "./api/live-feed";
import { OpenApiDocument, openApiDocument } from "./api/openapi";
import { liveSnapshot } from "./api/live-snapshot";
import { ADMIN_ALIASES, API_PATH, LIVE_PATH, PUBLIC_ALIASES, pathOf } from "./api/routes";
import type { CreateOrderMeta } from "./orders.service";
import { ClusterResilience, gatherResilience } from "./resilience/report";
import { rootCallOptions } from "./api/trace-headers";

export interface ApiServiceOptions {
  port: number;
  /** Address to bind (HOST). */
  ip: string;
  /** ADMIN_TOKENS and ADMIN_TOKEN, by name; a random one is generated (and printed once) when none is set. */
  adminTokens: readonly NamedToken[];
  /** CORS_ORIGINS: the only origins that get CORS headers; none by default. */
  corsOrigins: readonly string[];
  /** LIVE_MAX_CLIENTS. */
  liveMaxClients: number;
  /** Where the gateway reads the time (order ids, the live snapshot's stamp). */
  clock?: Clock;
}

type GatewayRequest = IncomingMessage & { $alias?: { action?: string }; $params?: Record<string, unknown> };
/** What moleculer-web reads from the context's meta to shape the answer. */
interface GatewayMeta {
  $statusCode?: number;
  $location?: string;
  $responseHeaders?: Record<string, string>;
}
type ApiThis = Service & { server: Server; adminTokens: AdminTokens; liveFeed: LiveFeed; openApi: OpenApiDocument };

const LIVE_INTERVAL_MS = 1000;

/** moleculer-web's request handler, which ours stands in front of (methods.httpHandler). */
const gatewayHttpHandler = (() => {
  const handler = ApiGateway.methods?.httpHandler;
  if (!handler) throw new Error("moleculer-web has no methods.httpHandler for the gateway to stand in front of");
  return handler;
})();

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
const routeMiddlewares = [commandsTakeTheirBodyOnly, ...jsonBody];
const commonRoute = { path: API_PATH, mappingPolicy: "restrict", bodyParsers: false, use: routeMiddlewares } as const;

export function apiService({
  port,
  ip,
  adminTokens,
  corsOrigins,
  liveMaxClients,
  clock = systemClock,
}: ApiServiceOptions): ServiceSchemaFor<ApiThis, ApiSettingsSchema> {
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
      // Replaces moleculer-web's own: its request id (X-Request-ID, X-Correlation-ID as sent) is no W3C trace id.
      // (moleculer-web calls a function here, which its typings leave out)
      rootCallOptions: ((options: Record<string, unknown>, req: IncomingMessage) => {
        delete options.requestID;
        Object.assign(options, rootCallOptions(req.headers));
      }) as unknown as ApiSettingsSchema["rootCallOptions"],
      routes: [
        {
          // Both routes share the /api path: moleculer-web tells them apart by name.
          name: "public",
          ...commonRoute,
          aliases: PUBLIC_ALIASES,
          onBeforeCall(ctx: Context<unknown, CreateOrderMeta>, _route: unknown, req: GatewayRequest) {
            if (req.$alias?.action !== "orders.create" || !req.$params) return;
            const key = req.headers["idempotency-key"];
            if (typeof key === "string") req.$params.idempotencyKey = key;
            // Without the client's key, the id of the order, chosen once per HTTP request (see CreateOrderMeta).
            else ctx.meta.orderId = timeOrderedUuid(clock.now().getTime());
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
          aliases: ADMIN_ALIASES,
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

      openapi: {
        handler(this: ApiThis): OpenApiDocument {
          return this.openApi;
        },
      },
    },

    methods: {
      /**
       * In front of moleculer-web's own handler, which runs every request as a call of the
       * `api.rest` action, under the bulkhead: what must not hold a slot of it (the live
       * feed), or must never reach an action (OPTIONS), is answered here.
       */
      httpHandler(this: ApiThis, req: IncomingMessage, res: ServerResponse, next?: (error?: unknown) => void) {
        if (req.method === "OPTIONS") return answerOptions(req, res, corsOrigins);
        allowOrigin(req, res, corsOrigins);
        if (req.method === "GET" && pathOf(req.url) === LIVE_PATH) return this.liveFeed.open(req, res);
        return gatewayHttpHandler.call(this, req, res, next) as unknown;
      },

      /** Admin routes: the token names its holder, whom every event the call causes records (services/shared/event-metadata.ts). */
      authorize(this: ApiThis, ctx: Context<unknown, Record<string, unknown>>, _route: unknown, req: IncomingMessage) {
        const header = req.headers.authorization;
        if (!header) throw new Errors.MoleculerClientError("this route needs Authorization: Bearer <admin token>", 401, "UNAUTHORIZED");
        const token = /^Bearer (.+)$/i.exec(header)?.[1];
        const admin = token === undefined ? undefined : this.adminTokens.identify(token);
        if (admin === undefined) throw new Errors.MoleculerClientError("the admin token is not valid", 403, "FORBIDDEN");
        ctx.meta[ADMIN_META_KEY] = admin;
      },
    },

    // The gateway waits for open connections when it closes: the live feeds end first.
    stopped() {
      this.liveFeed.closeAll();
    },

    created() {
      // Built once, from the routes' own validators: a route it cannot describe stops the gateway from starting.
      this.openApi = openApiDocument(this.originalSchema);
      this.liveFeed = new LiveFeed({
        maxClients: liveMaxClients,
        intervalMs: LIVE_INTERVAL_MS,
        snapshot: () => liveSnapshot(this.broker, clock),
        onError: (error) => this.logger.warn(`live snapshot failed: ${error.message}`),
      });
      this.adminTokens = AdminTokens.fromEnvironment(adminTokens, (generated) =>
        this.logger.warn(`Neither ADMIN_TOKENS nor ADMIN_TOKEN is set: admin routes take this generated token, named admin, for this run: ${generated}`),
      );
    },
  };
}

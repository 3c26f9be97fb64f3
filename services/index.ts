import { ServiceSchema } from "moleculer";
import { AppConfig } from "../config";
import { antifraudService } from "./antifraud.service";
import { apiService } from "./api.service";
import { dlqService } from "./dlq.service";
import { orchestratorService } from "./orchestrator.service";
import { ordersService } from "./orders.service";
import { paymentsService } from "./payments.service";
import { relayService } from "./relay.service";
import { resilienceService } from "./resilience.service";
import { tracesService } from "./traces.service";

const busOf = (config: AppConfig) => ({ url: config.busUrl, namespace: config.busNamespace });

/** Every service a node can run, by the name SERVICES uses. */
export const serviceFactories = {
  api: (config: AppConfig) =>
    apiService({
      port: config.port,
      ip: config.host,
      adminTokens: config.adminTokens,
      corsOrigins: config.corsOrigins,
      liveMaxClients: config.liveMaxClients,
    }),
  orders: (config: AppConfig) => ordersService({ eventStoreUrl: config.eventStoreUrl, readModelUrl: config.readModelUrl }),
  relay: (config: AppConfig) => relayService({ eventStoreUrl: config.eventStoreUrl, bus: busOf(config), pollMs: config.relayPollMs }),
  orchestrator: (config: AppConfig) =>
    orchestratorService({
      eventStoreUrl: config.eventStoreUrl,
      readModelUrl: config.readModelUrl,
      bus: busOf(config),
      consume: { prefetch: config.busPrefetch, retry: config.busRetry },
      limits: config.saga,
      definition: config.sagaDefinition,
    }),
  antifraud: (config: AppConfig) =>
    antifraudService({ maxTotal: config.antifraud.maxTotal, blocklist: config.antifraud.blocklist, chaos: config.antifraud.chaos }),
  dlq: (config: AppConfig) =>
    dlqService({ eventStoreUrl: config.eventStoreUrl, readModelUrl: config.readModelUrl, bus: busOf(config), replayRate: config.dlqReplayRate }),
  payments: (config: AppConfig) => paymentsService({ eventStoreUrl: config.eventStoreUrl, limit: config.payments.limit, chaos: config.payments.chaos }),
} satisfies Record<string, (config: AppConfig) => Pick<ServiceSchema, "name">>;

export type ServiceName = keyof typeof serviceFactories;

/**
 * What a node runs besides the services SERVICES names: every node reports its breakers; the
 * gateway's node collects the spans of every node for the dashboard's waterfall.
 */
export function companionServices(names: readonly ServiceName[]): Pick<ServiceSchema, "name">[] {
  // The collector runs with TRACING=off too: GET /api/traces/:traceId answers "not found", not "no such service".
  return [resilienceService(), ...(names.includes("api") ? [tracesService()] : [])];
}

export function isServiceName(name: string): name is ServiceName {
  return Object.hasOwn(serviceFactories, name);
}

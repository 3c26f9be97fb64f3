import { ServiceSchema } from "moleculer";
import { AppConfig } from "../config";
import { apiService } from "./api.service";
import { ordersService } from "./orders.service";

/** Every service a node can run, by the name SERVICES uses. */
export const serviceFactories = {
  api: (config: AppConfig) => apiService({ port: config.port }),
  orders: (config: AppConfig) => ordersService({ eventStoreUrl: config.eventStoreUrl }),
} satisfies Record<string, (config: AppConfig) => ServiceSchema>;

export type ServiceName = keyof typeof serviceFactories;

export function isServiceName(name: string): name is ServiceName {
  return Object.hasOwn(serviceFactories, name);
}

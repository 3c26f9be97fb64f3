import { ServiceBroker } from "moleculer";
import { AppConfig } from "./config";
import { brokerOptions } from "./moleculer.config";
import { ServiceName, isServiceName, nodeServices, serviceFactories } from "./services";

/**
 * A broker with the services that SERVICES names (all of them by default), plus what every
 * node runs. Shared by `npm start`, the cluster's nodes and the REPL.
 */
export function createNode(config: AppConfig, names: readonly string[] = config.services ?? Object.keys(serviceFactories)): ServiceBroker {
  const unknown = names.filter((name) => !isServiceName(name));
  if (unknown.length > 0) {
    throw new Error(`SERVICES names unknown services: ${unknown.join(", ")} (known: ${Object.keys(serviceFactories).join(", ")})`);
  }
  const broker = new ServiceBroker(brokerOptions(config));
  for (const name of names as ServiceName[]) broker.createService(serviceFactories[name](config));
  for (const service of nodeServices) broker.createService(service());
  return broker;
}

import { ServiceBroker } from "moleculer";
import { loadConfig } from "./config";
import { brokerOptions } from "./moleculer.config";
import { isServiceName, nodeServices, serviceFactories } from "./services";

/**
 * Starts the services that SERVICES names (all of them by default) in one broker. The broker
 * stops them in order and exits 0 on SIGINT/SIGTERM.
 */
async function main(): Promise<void> {
  const config = loadConfig();
  const names = config.services ?? Object.keys(serviceFactories);
  const unknown = names.filter((name) => !isServiceName(name));
  if (unknown.length > 0) {
    throw new Error(`SERVICES names unknown services: ${unknown.join(", ")} (known: ${Object.keys(serviceFactories).join(", ")})`);
  }
  const broker = new ServiceBroker(brokerOptions(config));
  for (const name of names.filter(isServiceName)) {
    broker.createService(serviceFactories[name](config));
  }
  for (const service of nodeServices) broker.createService(service());
  await broker.start();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

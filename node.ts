import { createServer } from "node:net";
import { ServiceBroker } from "moleculer";
import { AppConfig } from "./config";
import { brokerOptions } from "./moleculer.config";
import { ServiceName, companionServices, isServiceName, serviceFactories } from "./services";

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
  for (const service of companionServices(names as ServiceName[])) broker.createService(service);
  return broker;
}

/** A port that another process holds: its variable and number, in one line. */
export class PortInUse extends Error {
  override readonly name = "PortInUse";
  constructor(
    readonly variable: "PORT" | "METRICS_PORT",
    readonly port: number,
  ) {
    super(`${variable}=${port}: the port is already in use; set ${variable} to a free port (0: any free port)`);
  }
}

/**
 * Binds and releases each port the node will listen on, before anything starts: a port in
 * use is then a clear error at once, where the gateway and the Prometheus reporter would
 * only emit an unhandled 'error' after the rest of the node had started.
 */
export async function ensurePortsFree(config: AppConfig, names: readonly string[] = config.services ?? Object.keys(serviceFactories)): Promise<void> {
  const wanted: { variable: PortInUse["variable"]; port: number; host?: string }[] = [{ variable: "METRICS_PORT", port: config.metricsPort }];
  if (names.includes("api")) wanted.unshift({ variable: "PORT", port: config.port, host: config.host });
  for (const { variable, port, host } of wanted) {
    if (port === 0) continue;
    await new Promise<void>((resolve, reject) => {
      const probe = createServer();
      probe.once("error", (error: NodeJS.ErrnoException) => reject(error.code === "EADDRINUSE" ? new PortInUse(variable, port) : error));
      probe.listen(port, host, () => probe.close(() => resolve()));
    });
  }
}

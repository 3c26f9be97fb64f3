import { BrokerOptions } from "moleculer";
import { AppConfig } from "./config";

/** Broker options from the environment: one process without a transporter by default. */
export function brokerOptions(config: AppConfig): BrokerOptions {
  return {
    namespace: "glitchbuster",
    nodeID: config.nodeId,
    transporter: config.transporter ?? null,
    logger: {
      type: "Console",
      options: { level: config.logLevel, formatter: "short", colors: process.stdout.isTTY ?? false },
    },
  };
}

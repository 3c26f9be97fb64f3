/**
 * Everything the environment can set, read once, with the defaults of embedded mode.
 * `.env.example` lists the same variables.
 */
export interface AppConfig {
  port: number;
  /** Which services this node runs; all of them when unset. */
  services: string[] | undefined;
  transporter: string | undefined;
  eventStoreUrl: string;
  logLevel: string;
  nodeId: string | undefined;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  return {
    port: integer(env, "PORT", 3000, 0, 65535),
    services: env.SERVICES ? env.SERVICES.split(",").map((name) => name.trim()).filter(Boolean) : undefined,
    transporter: env.TRANSPORTER || undefined,
    eventStoreUrl: env.EVENT_STORE_URL || "sqlite:./data/events.db",
    logLevel: env.LOG_LEVEL || "info",
    nodeId: env.NODE_ID || undefined,
  };
}

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`${name}=${raw}: expected an integer from ${min} to ${max}`);
  }
  return value;
}

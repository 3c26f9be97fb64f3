import { RetryPolicy } from "../adapters/bus/port";

/**
 * Everything the environment can set, read once, with the defaults of embedded mode.
 * `.env.example` lists the same variables.
 */
export interface AppConfig {
  port: number;
  /** Address the REST gateway binds. */
  host: string;
  /** Which services this node runs; all of them when unset. */
  services: string[] | undefined;
  transporter: string | undefined;
  nodeId: string | undefined;
  logLevel: string;
  eventStoreUrl: string;
  /** amqp://... for RabbitMQ; "memory:" (the in-process bus) when AMQP_URL is unset. */
  busUrl: string;
  /** Prefix of every exchange and queue (BUS_NAMESPACE). */
  busNamespace: string;
  busRetry: RetryPolicy;
  /** Messages one consumer handles at once. */
  busPrefetch: number;
  /** How often the relay looks for new events when it found none. */
  relayPollMs: number;
  antifraud: { maxTotal: number; blocklist: string[] };
  payments: { limit: number };
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  return {
    port: integer(env, "PORT", 3000, 0, 65535),
    host: env.HOST || "0.0.0.0",
    services: list(env.SERVICES),
    transporter: env.TRANSPORTER || undefined,
    nodeId: env.NODE_ID || undefined,
    logLevel: env.LOG_LEVEL || "info",
    eventStoreUrl: env.EVENT_STORE_URL || "sqlite:./data/events.db",
    busUrl: env.AMQP_URL || "memory:",
    busNamespace: env.BUS_NAMESPACE || "glitchbuster",
    busRetry: {
      attempts: integer(env, "BUS_RETRY_ATTEMPTS", 5, 1, 100),
      baseMs: integer(env, "BUS_RETRY_BASE_MS", 200, 1, 3_600_000),
      maxMs: integer(env, "BUS_RETRY_MAX_MS", 10_000, 1, 86_400_000),
    },
    busPrefetch: integer(env, "BUS_PREFETCH", 20, 1, 10_000),
    relayPollMs: integer(env, "RELAY_POLL_MS", 20, 1, 60_000),
    antifraud: {
      maxTotal: integer(env, "ANTIFRAUD_MAX_TOTAL", 1_000_000, 0, Number.MAX_SAFE_INTEGER),
      blocklist: list(env.ANTIFRAUD_BLOCKLIST) ?? [],
    },
    payments: { limit: integer(env, "PAYMENTS_LIMIT", 500_000, 0, Number.MAX_SAFE_INTEGER) },
  };
}

function list(raw: string | undefined): string[] | undefined {
  if (!raw) return undefined;
  return raw
    .split(",")
    .map((entry) => entry.trim())
    .filter(Boolean);
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

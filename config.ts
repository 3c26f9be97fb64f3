import { RetryPolicy } from "./adapters/bus/port";
import { LATEST_SAGA_DEFINITION } from "./domain/order-saga";

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
  /** Port of the Prometheus reporter's /metrics (0: any free port); PORT + 30 by default. */
  metricsPort: number;
  /** Origins that get CORS headers and whose preflights are answered; none (CORS off) by default. */
  corsOrigins: string[];
  /** Dashboard feeds (GET /api/live) open at once; one more is a 503. */
  liveMaxClients: number;
  eventStoreUrl: string;
  /**
   * Where the read models (order list, DLQ list) live: by default the event store's own
   * database (memory, SQLite, PostgreSQL); required with kurrentdb:// (sqlite: or postgres:).
   */
  readModelUrl: string | undefined;
  /** amqp://... for RabbitMQ; "memory:" (the in-process bus) when AMQP_URL is unset. */
  busUrl: string;
  /** Prefix of every exchange and queue (BUS_NAMESPACE). */
  busNamespace: string;
  busRetry: RetryPolicy;
  /** Messages one consumer handles at once. */
  busPrefetch: number;
  /**
   * How long the relay waits for new events when no append woke it: a fallback for a missed
   * wake (PostgreSQL LISTEN/NOTIFY, SQLite's file watched, in-process signals). EventStoreDB
   * has no wake across processes, so there it is the relay's poll.
   */
  relayPollMs: number;
  antifraud: { maxTotal: number; blocklist: string[]; chaos: ChaosSettings };
  payments: { limit: number; chaos: ChaosSettings };
  resilience: ResilienceConfig;
  /**
   * Each saga's time limits, recorded in its SagaStarted (a change applies to sagas started
   * after it): its deadline from start to end, and the longest a step may wait after the last
   * progress. 0 turns one off.
   */
  saga: { deadlineMs: number; stepTimeoutMs: number };
  /**
   * SAGA_DEFINITION: the version of the saga's workflow (domain/order-saga.ts) that new sagas
   * run; the orchestrator drives the sagas of this version and older, and refuses newer ones.
   */
  sagaDefinition: number;
  /** DLQ_REPLAY_RATE: dead letters a DLQ job replays (or purges) per second at most; 0: no limit. */
  dlqReplayRate: number;
  /** ADMIN_TOKENS and ADMIN_TOKEN: the Bearer tokens of admin routes, by name; one is generated at start when none is set. */
  adminTokens: { name: string; token: string }[];
  tracing: TracingConfig;
}

export const TRACE_EXPORTERS = ["console", "zipkin", "otlp"] as const;
export type TraceExporterName = (typeof TRACE_EXPORTERS)[number];

export interface TracingConfig {
  /** TRACING=on|off: spans, the trace context carried by events and messages, the dashboard's waterfall. */
  enabled: boolean;
  /** TRACING_EXPORTERS: where spans go besides the dashboard's collector. */
  exporters: TraceExporterName[];
  /** TRACING_SAMPLE_RATE: the share of traces started here that are recorded, 0..1. */
  sampleRate: number;
  /** ZIPKIN_URL: the Zipkin server's base URL (the exporter posts to /api/v2/spans). */
  zipkinUrl: string;
}

export type ChaosMode = "error" | "timeout";

export interface ChaosSettings {
  /** Share of calls that fail, 0..1. */
  failureRate: number;
  /** Added to every call, in ms. */
  latencyMs: number;
  /** How a call fails: a retryable error, or no answer until the caller times out. */
  mode: ChaosMode;
}

export interface ResilienceConfig {
  requestTimeoutMs: number;
  retry: { retries: number; delayMs: number; maxDelayMs: number; factor: number };
  breaker: { threshold: number; minRequestCount: number; windowTimeS: number; halfOpenTimeMs: number };
  bulkhead: { concurrency: number; maxQueueSize: number };
}

/**
 * A replay job's pace by default: a replayed message starts a saga, and one core runs ~450
 * sagas a second (DESIGN.md §7), so 100 a second leaves most of it to the orders coming in
 * while 5,000 dead letters go back in under a minute.
 */
export const DEFAULT_DLQ_REPLAY_RATE = 100;

/** METRICS_PORT's default sits this far above PORT: 3030 beside 3000, and a second `npm start` on another PORT gets its own. */
const METRICS_PORT_OFFSET = 30;

export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const port = integer(env, "PORT", 3000, 0, 65535);
  const eventStoreUrl = env.EVENT_STORE_URL || "sqlite:./data/events.db";
  return {
    port,
    host: env.HOST || "0.0.0.0",
    services: list(env.SERVICES),
    transporter: env.TRANSPORTER || undefined,
    nodeId: env.NODE_ID || undefined,
    logLevel: env.LOG_LEVEL || "info",
    // PORT=0 (any free port) gets any free metrics port too.
    metricsPort: integer(env, "METRICS_PORT", port === 0 ? 0 : Math.min(port + METRICS_PORT_OFFSET, 65535), 0, 65535),
    corsOrigins: origins(env.CORS_ORIGINS),
    liveMaxClients: integer(env, "LIVE_MAX_CLIENTS", 100, 1, 10_000),
    eventStoreUrl,
    readModelUrl: env.READ_MODEL_URL || undefined,
    busUrl: env.AMQP_URL || "memory:",
    busNamespace: env.BUS_NAMESPACE || "glitchbuster",
    busRetry: {
      attempts: integer(env, "BUS_RETRY_ATTEMPTS", 5, 1, 100),
      baseMs: integer(env, "BUS_RETRY_BASE_MS", 200, 1, 3_600_000),
      maxMs: integer(env, "BUS_RETRY_MAX_MS", 10_000, 1, 86_400_000),
    },
    busPrefetch: integer(env, "BUS_PREFETCH", 20, 1, 10_000),
    relayPollMs: integer(env, "RELAY_POLL_MS", /^(esdb|kurrentdb)(\+discover)?:\/\//.test(eventStoreUrl) ? 20 : 1000, 1, 60_000),
    antifraud: {
      maxTotal: integer(env, "ANTIFRAUD_MAX_TOTAL", 1_000_000, 0, Number.MAX_SAFE_INTEGER),
      blocklist: list(env.ANTIFRAUD_BLOCKLIST) ?? [],
      chaos: chaos(env, "ANTIFRAUD"),
    },
    payments: {
      limit: integer(env, "PAYMENTS_LIMIT", 500_000, 0, Number.MAX_SAFE_INTEGER),
      chaos: chaos(env, "PAYMENTS"),
    },
    resilience: {
      requestTimeoutMs: integer(env, "REQUEST_TIMEOUT_MS", 2000, 0, 600_000),
      retry: {
        retries: integer(env, "RETRY_RETRIES", 2, 0, 100),
        delayMs: integer(env, "RETRY_DELAY_MS", 100, 0, 600_000),
        maxDelayMs: integer(env, "RETRY_MAX_DELAY_MS", 1000, 0, 600_000),
        factor: number(env, "RETRY_FACTOR", 2, 1, 10),
      },
      breaker: {
        threshold: number(env, "BREAKER_THRESHOLD", 0.5, 0, 1),
        minRequestCount: integer(env, "BREAKER_MIN_REQUESTS", 10, 1, 1_000_000),
        windowTimeS: integer(env, "BREAKER_WINDOW_S", 10, 1, 86_400),
        halfOpenTimeMs: integer(env, "BREAKER_HALF_OPEN_MS", 5000, 1, 3_600_000),
      },
      bulkhead: {
        concurrency: integer(env, "BULKHEAD_CONCURRENCY", 20, 1, 10_000),
        maxQueueSize: integer(env, "BULKHEAD_MAX_QUEUE", 200, 0, 1_000_000),
      },
    },
    // Minutes: far above a saga's milliseconds, and above what a participant's retries and
    // the bus's redeliveries take to get through a short fault.
    saga: {
      deadlineMs: integer(env, "SAGA_DEADLINE_MS", 600_000, 0, 604_800_000),
      stepTimeoutMs: integer(env, "SAGA_STEP_TIMEOUT_MS", 300_000, 0, 604_800_000),
    },
    sagaDefinition: integer(env, "SAGA_DEFINITION", LATEST_SAGA_DEFINITION, 1, LATEST_SAGA_DEFINITION),
    adminTokens: adminTokens(env),
    dlqReplayRate: integer(env, "DLQ_REPLAY_RATE", DEFAULT_DLQ_REPLAY_RATE, 0, 100_000),
    tracing: tracing(env),
  };
}

function tracing(env: NodeJS.ProcessEnv): TracingConfig {
  const switched = env.TRACING || "on";
  if (switched !== "on" && switched !== "off") throw new Error(`TRACING=${switched}: expected on or off`);
  const exporters = list(env.TRACING_EXPORTERS) ?? [];
  const unknown = exporters.find((name) => !(TRACE_EXPORTERS as readonly string[]).includes(name));
  if (unknown !== undefined) throw new Error(`TRACING_EXPORTERS: ${unknown} is none of ${TRACE_EXPORTERS.join(", ")}`);
  return {
    enabled: switched === "on",
    exporters: [...new Set(exporters as TraceExporterName[])],
    sampleRate: number(env, "TRACING_SAMPLE_RATE", 1, 0, 1),
    zipkinUrl: env.ZIPKIN_URL || "http://localhost:9411",
  };
}

/** Names are recorded with every admin action: short, and safe in a log line, a header and JSON. */
const ADMIN_NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;

/**
 * ADMIN_TOKENS=name:token,name:token (the first ":" ends the name) and ADMIN_TOKEN, still
 * accepted, named "admin". Refused at start: a bad name, an empty token, a name or a token given
 * twice (a token must name one person).
 */
function adminTokens(env: NodeJS.ProcessEnv): { name: string; token: string }[] {
  const tokens = (list(env.ADMIN_TOKENS) ?? []).map((entry) => {
    const colon = entry.indexOf(":");
    if (colon === -1) throw new Error("ADMIN_TOKENS: expected name:token entries, comma separated; an entry has no ':'");
    return { name: entry.slice(0, colon), token: entry.slice(colon + 1) };
  });
  if (env.ADMIN_TOKEN) tokens.push({ name: "admin", token: env.ADMIN_TOKEN });
  for (const { name, token } of tokens) {
    if (!ADMIN_NAME.test(name)) throw new Error(`ADMIN_TOKENS: the name ${JSON.stringify(name)} must be 1 to 64 letters, digits, or . _ @ - (not first)`);
    if (token === "") throw new Error(`ADMIN_TOKENS: the token of ${name} is empty`);
  }
  const names = tokens.map((entry) => entry.name);
  const twice = names.find((name, index) => names.indexOf(name) !== index);
  if (twice) throw new Error(`ADMIN_TOKENS: ${twice} is named twice (ADMIN_TOKEN is named admin)`);
  if (new Set(tokens.map((entry) => entry.token)).size !== tokens.length) throw new Error("ADMIN_TOKENS: two names share one token");
  return tokens;
}

function chaos(env: NodeJS.ProcessEnv, prefix: string): ChaosSettings {
  const mode = env[`${prefix}_CHAOS_MODE`] || "error";
  if (mode !== "error" && mode !== "timeout") throw new Error(`${prefix}_CHAOS_MODE=${mode}: expected error or timeout`);
  return {
    failureRate: number(env, `${prefix}_CHAOS_FAILURE_RATE`, 0, 0, 1),
    latencyMs: integer(env, `${prefix}_CHAOS_LATENCY_MS`, 0, 0, 600_000),
    mode,
  };
}

function number(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min || value > max) {
    throw new Error(`${name}=${raw}: expected a number from ${min} to ${max}`);
  }
  return value;
}

/** CORS_ORIGINS: a comma list of origins as browsers send them (scheme://host[:port]), compared exactly. */
function origins(raw: string | undefined): string[] {
  const listed = list(raw) ?? [];
  for (const origin of listed) {
    if (!/^https?:\/\/[^/\s]+$/.test(origin)) throw new Error(`CORS_ORIGINS: ${origin} is not an origin (scheme://host[:port], no path)`);
  }
  return listed;
}

function list(raw: string | undefined): string[] | undefined {
  if (!raw) return undefined;
  return raw
    .split(",")
    .map((entry) => entry.trim())
    .filter(Boolean);
}

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const value = number(env, name, fallback, min, max);
  if (!Number.isInteger(value)) throw new Error(`${name}=${env[name]}: expected an integer`);
  return value;
}

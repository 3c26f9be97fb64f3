import { BrokerOptions, Errors } from "moleculer";
import { AppConfig } from "./config";
import { JitteredRetryMiddleware } from "./middlewares/jittered-retry";

/**
 * Moleculer's own middlewares in their own order, with the built-in "Retry" replaced by the
 * jittered one: it must stand where "Retry" stands, outside the circuit breaker and the
 * timeout, so that each attempt is timed and counted.
 */
function middlewares(config: AppConfig): NonNullable<BrokerOptions["middlewares"]> {
  const { retry } = config.resilience;
  return [
    "ActionHook",
    "Validator",
    "Bulkhead",
    "Cacher",
    "ContextTracker",
    "CircuitBreaker",
    "Timeout",
    JitteredRetryMiddleware(retry),
    "Fallback",
    "ErrorHandler",
    "Tracing",
    "Metrics",
    "Debounce",
    "Throttle",
  ];
}

/** Broker options from the environment: one process without a transporter by default. */
export function brokerOptions(config: AppConfig): BrokerOptions {
  const { requestTimeoutMs, breaker, bulkhead } = config.resilience;
  return {
    namespace: "glitchbuster",
    nodeID: config.nodeId,
    transporter: config.transporter ?? null,
    logger: {
      type: "Console",
      options: { level: config.logLevel, formatter: "short", colors: process.stdout.isTTY ?? false },
    },
    requestTimeout: requestTimeoutMs,
    // Replaced by JitteredRetryMiddleware (see middlewares()).
    retryPolicy: { enabled: false },
    circuitBreaker: {
      enabled: true,
      threshold: breaker.threshold,
      minRequestCount: breaker.minRequestCount,
      windowTime: breaker.windowTimeS,
      halfOpenTime: breaker.halfOpenTimeMs,
      // Only infrastructure failures count: a refused order (4xx) says nothing about health.
      check: (error: Error) => error instanceof Errors.MoleculerError && error.code >= 500,
    },
    bulkhead: { enabled: true, concurrency: bulkhead.concurrency, maxQueueSize: bulkhead.maxQueueSize },
    // Gauges of bulkheads and breakers are read by GET /api/resilience.
    metrics: { enabled: true, reporter: [] },
    internalMiddlewares: false,
    middlewares: middlewares(config),
  };
}

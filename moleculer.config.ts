import { BrokerOptions, Errors, Transporters } from "moleculer";
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

type AmqpTransporterOptions = Exclude<NonNullable<ConstructorParameters<typeof Transporters.AMQP>[0]>, string>;

/** How many requests a node takes off the AMQP transporter at once. */
const TRANSPORTER_PREFETCH = 100;

/**
 * TRANSPORTER as the broker takes it. For AMQP two defaults of the Moleculer transporter are
 * wrong for request/response traffic, measured on these machines (DESIGN.md §7): amqplib
 * leaves Nagle's algorithm on, so every small frame waits for the previous one's ACK (about
 * 44 ms per remote call), and a prefetch of 1 lets a node handle one request at a time.
 * With noDelay and a prefetch of 100, a remote call takes ~0.2 ms and ~17k calls/s flow at
 * 100 in flight.
 */
export function transporterOptions(transporter: string | undefined): BrokerOptions["transporter"] {
  if (!transporter) return null;
  if (!/^amqps?:\/\//.test(transporter)) return Transporters.resolve(transporter);
  // Moleculer 0.15's typings leave out socketOptions, which its AMQP transporter still hands
  // to amqplib's connect (src/transporters/amqp.js).
  const options: AmqpTransporterOptions & { socketOptions: { noDelay: boolean } } = {
    url: transporter,
    prefetch: TRANSPORTER_PREFETCH,
    socketOptions: { noDelay: true },
  };
  return new Transporters.AMQP(options);
}

/** Broker options from the environment: one process without a transporter by default. */
export function brokerOptions(config: AppConfig): BrokerOptions {
  const { requestTimeoutMs, breaker, bulkhead } = config.resilience;
  return {
    // One name for the deployment: Moleculer's transporter queues and our bus share it.
    namespace: config.busNamespace,
    nodeID: config.nodeId,
    transporter: transporterOptions(config.transporter),
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
    // Gauges of bulkheads and breakers are read by GET /api/resilience; Prometheus scrapes
    // every node on its METRICS_PORT.
    metrics: { enabled: true, reporter: [{ type: "Prometheus", options: { port: config.metricsPort, path: "/metrics" } }] },
    internalMiddlewares: false,
    middlewares: middlewares(config),
  };
}

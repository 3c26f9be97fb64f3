import { setTimeout as sleep } from "node:timers/promises";
import { BrokerOptions, Errors, Transporters } from "moleculer";
import { AppConfig } from "./config";
import { fullJitter } from "./adapters/bus/full-jitter";
import { AdminAuditMiddleware } from "./middlewares/admin-audit";
import { CallerSideBreakersMiddleware } from "./middlewares/caller-side-breakers";
import { BreakerSpanEventsMiddleware } from "./middlewares/breaker-span-events";
import { JitteredRetryMiddleware } from "./middlewares/jittered-retry";
import { W3cTraceIdsMiddleware, brokerTracing } from "./tracing/broker-tracing";
import { newSpanId } from "./tracing/trace-context";

/**
 * Moleculer's own middlewares in their own order, with the built-in "Retry" replaced by the
 * jittered one: it must stand where "Retry" stands, outside the circuit breaker and the
 * timeout, so that each attempt is timed and counted. CallerSideBreakers stands inside the
 * circuit breaker (a middleware wraps the ones listed before it).
 */
function middlewares(config: AppConfig): NonNullable<BrokerOptions["middlewares"]> {
  const { retry } = config.resilience;
  return [
    "ActionHook",
    "Validator",
    "Bulkhead",
    "Cacher",
    "ContextTracker",
    CallerSideBreakersMiddleware(),
    "CircuitBreaker",
    "Timeout",
    JitteredRetryMiddleware(retry),
    "Fallback",
    "ErrorHandler",
    "Tracing",
    "Metrics",
    "Debounce",
    "Throttle",
    AdminAuditMiddleware(),
    ...(config.tracing.enabled ? [W3cTraceIdsMiddleware(), BreakerSpanEventsMiddleware()] : []),
  ];
}

type AmqpTransporterOptions = Exclude<NonNullable<ConstructorParameters<typeof Transporters.AMQP>[0]>, string>;

/** How many requests a node takes off the AMQP transporter at once. */
const TRANSPORTER_PREFETCH = 100;
/** Delays between attempts to reconnect: full jitter under 100 ms, 200 ms... up to 1 s. */
const RECONNECT_DELAYS = { delayMs: 100, maxDelayMs: 1000, factor: 2 };

/**
 * Moleculer's AMQP transporter, reconnecting promptly when RabbitMQ drops the connection.
 * Moleculer's transit waits a fixed 5 s before each attempt (transit.js, connect()), so a
 * RabbitMQ restart of 1 to 3 s cut every node off for 5 to 10 s, and each request sent
 * meanwhile failed with BrokerDisconnectedError. Here the first attempt comes at once and the
 * next ones after jittered delays up to 1 s. While the connection is lost the node's heartbeat
 * checks pause ($transporter.disconnected, as on a graceful stop): silence from the other
 * nodes during our own outage is no sign that they died, and must not drop them from the
 * registry. The transit's $transporter.connected starts the checks again once every node has
 * announced itself anew. The first connection keeps Moleculer's own retries.
 */
export class PromptlyReconnectingAmqp extends Transporters.AMQP {
  private reconnecting = false;
  private stopping = false;

  override connect(): Promise<void> {
    // The transit hands connect() a callback for a lost connection, which the typings leave out.
    // eslint-disable-next-line @typescript-eslint/unbound-method -- Reflect.apply calls it on `this`
    return Reflect.apply(Transporters.AMQP.prototype.connect, this, [(error: unknown) => void this.reconnect(error)]) as Promise<void>;
  }

  override disconnect(): Promise<void> {
    this.stopping = true;
    return super.disconnect();
  }

  /**
   * amqplib throws, rather than rejects, when the channel is closing, and Moleculer's send()
   * passes the throw on: a heartbeat timer firing in the moment between the connection's loss
   * and its close event then raised an uncaught exception. As a rejection, the transit's own
   * handlers log it (heartbeat) or fail the request, which the retry policy takes up.
   */
  override send(topic: string, data: Buffer, meta: Record<string, unknown>): Promise<void> {
    try {
      return super.send(topic, data, meta);
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }

  private async reconnect(error: unknown): Promise<void> {
    if (this.reconnecting || this.stopping) return;
    this.reconnecting = true;
    this.logger.warn(`AMQP connection lost (${(error as Error | undefined)?.message ?? "closed"}); reconnecting`);
    void this.broker.broadcastLocal("$transporter.disconnected", { graceFul: false });
    try {
      for (let attempt = 1; !this.stopping; attempt += 1) {
        await sleep(fullJitter(attempt, RECONNECT_DELAYS));
        try {
          await this.connect();
          this.logger.info(`AMQP reconnected after ${attempt} attempt(s)`);
          return;
        } catch (failure) {
          this.logger.debug(`AMQP reconnection attempt ${attempt} failed: ${(failure as Error).message}`);
        }
      }
    } finally {
      this.reconnecting = false;
    }
  }
}

/**
 * TRANSPORTER as the broker takes it. For AMQP two defaults of the Moleculer transporter are
 * wrong for request/response traffic, measured on these machines (DESIGN.md §7): amqplib
 * leaves Nagle's algorithm on, so every small frame waits for the previous one's ACK (about
 * 44 ms per remote call), and a prefetch of 1 lets a node handle one request at a time.
 * With noDelay and a prefetch of 100, a remote call takes ~0.2 ms and ~17k calls/s flow at
 * 100 in flight. `connectionName` names the connection in RabbitMQ (`rabbitmqctl
 * list_connections client_properties`, the management UI).
 */
export function transporterOptions(transporter: string | undefined, connectionName?: string): BrokerOptions["transporter"] {
  if (!transporter) return null;
  if (!/^amqps?:\/\//.test(transporter)) return Transporters.resolve(transporter);
  // Moleculer 0.15's typings leave out socketOptions, which its AMQP transporter still hands
  // to amqplib's connect (src/transporters/amqp.js).
  const options: AmqpTransporterOptions & { socketOptions: { noDelay: boolean; clientProperties?: { connection_name: string } } } = {
    url: transporter,
    prefetch: TRANSPORTER_PREFETCH,
    socketOptions: { noDelay: true, ...(connectionName ? { clientProperties: { connection_name: connectionName } } : {}) },
  };
  return new PromptlyReconnectingAmqp(options);
}

/** Broker options from the environment: one process without a transporter by default. */
export function brokerOptions(config: AppConfig): BrokerOptions {
  const { requestTimeoutMs, breaker, bulkhead } = config.resilience;
  return {
    // One name for the deployment: Moleculer's transporter queues and our bus share it.
    namespace: config.busNamespace,
    nodeID: config.nodeId,
    transporter: transporterOptions(config.transporter, config.nodeId && `moleculer ${config.nodeId}`),
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
      // Only failures of the endpoint count: a refused order (4xx) says nothing about its health,
      // and neither does this node's own transporter being down (BrokerDisconnectedError, 502).
      check: (error: Error) => error instanceof Errors.MoleculerError && error.code >= 500 && !(error instanceof Errors.BrokerDisconnectedError),
    },
    bulkhead: { enabled: true, concurrency: bulkhead.concurrency, maxQueueSize: bulkhead.maxQueueSize },
    // Gauges of bulkheads and breakers are read by GET /api/resilience; Prometheus scrapes
    // every node on its METRICS_PORT.
    metrics: { enabled: true, reporter: [{ type: "Prometheus", options: { port: config.metricsPort, path: "/metrics" } }] },
    // A context's id is its span's id: 16 hex digits, as W3C trace context spells a span id.
    uidGenerator: newSpanId,
    tracing: brokerTracing(config.tracing),
    internalMiddlewares: false,
    middlewares: middlewares(config),
  };
}

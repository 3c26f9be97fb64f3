import { MetricRegistry, ServiceBroker, ServiceSchema } from "moleculer";

/**
 * GlitchBuster's own metrics, beside Moleculer's (requests, breakers, bulkheads): the
 * Prometheus reporter exposes them all on METRICS_PORT, dots turned into underscores.
 */
export const APP_METRICS = {
  ordersCreated: { type: "counter", name: "glitchbuster.orders.created.total", description: "Orders created" },
  sagasFinished: {
    type: "counter",
    name: "glitchbuster.sagas.finished.total",
    labelNames: ["outcome"],
    description: "Sagas ended, by outcome",
  },
  sagaDuration: {
    type: "histogram",
    name: "glitchbuster.saga.duration.seconds",
    labelNames: ["outcome"],
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    description: "From a saga's start to its end",
  },
  busRedeliveries: {
    type: "counter",
    name: "glitchbuster.bus.redeliveries.total",
    labelNames: ["queue"],
    description: "Messages delivered again after a failed attempt",
  },
  dlqDepth: { type: "gauge", name: "glitchbuster.dlq.depth", description: "Dead letters neither replayed nor purged" },
  breakerStateChanges: {
    type: "counter",
    name: "glitchbuster.breaker.state.changes.total",
    labelNames: ["action", "state"],
    description: "Circuit breaker state changes seen by the calling node",
  },
  eventLoopDelayP99: {
    type: "gauge",
    name: "glitchbuster.eventloop.delay.p99.ms",
    description: "Event-loop delay of this node, 99th percentile over the last 5 s window, in ms",
  },
  eventLoopDelayMax: {
    type: "gauge",
    name: "glitchbuster.eventloop.delay.max.ms",
    description: "Event-loop delay of this node, maximum over the last 5 s window, in ms",
  },
} satisfies Record<string, MetricOptions>;

export type AppMetric = keyof typeof APP_METRICS;

/** Registers a metric once per broker (registering again would reset it) and gives its name. */
export function appMetric(broker: ServiceBroker, metric: AppMetric): string {
  const definition = APP_METRICS[metric];
  if (!broker.metrics.getMetric(definition.name)) {
    register(broker.metrics, definition);
    // A series appears on its first value: an unlabelled counter starts at 0, a gauge waits for its first reading.
    if (definition.type === "counter" && !("labelNames" in definition)) broker.metrics.increment(definition.name, undefined, 0);
  }
  return definition.name;
}

/**
 * Registers, when the service is created, the metrics it records: Prometheus then shows an
 * unlabelled counter at 0 from the node's start, not only after its first increment, so that
 * `rate()` and an alert on "no orders created" see the series before anything happened.
 */
export function MetricsMixin(metrics: readonly AppMetric[]): Partial<ServiceSchema> {
  return {
    created() {
      for (const metric of metrics) appMetric(this.broker, metric);
    },
  };
}

type MetricOptions = MetricRegistry.CounterMetricOptions | MetricRegistry.GaugeMetricOptions | MetricRegistry.HistogramMetricOptions;

/** Moleculer 0.15 types `register` with one overload per metric type, so a union must be told apart. */
function register(registry: MetricRegistry, options: MetricOptions): void {
  switch (options.type) {
    case "counter":
      registry.register(options);
      return;
    case "gauge":
      registry.register(options);
      return;
    case "histogram":
      registry.register(options);
      return;
  }
}

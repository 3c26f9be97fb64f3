import { Context, ServiceSchema } from "moleculer";
import { MetricsMixin, appMetric } from "../mixins/metrics.mixin";
import { eventLoopDelayMixin } from "../mixins/event-loop-delay.mixin";
import { BreakerReport, breakersOf } from "./resilience/breakers";

export interface BulkheadReport {
  action: string;
  inFlight: number;
  queued: number;
}

export interface ResilienceReport {
  nodeID: string;
  breakers: BreakerReport[];
  bulkheads: BulkheadReport[];
}

interface GaugeValue {
  labels: { action?: string };
  value: number;
}

interface BreakerEvent {
  nodeID: string;
  action: string;
  failures?: number;
  count?: number;
  rate?: number;
}

/**
 * Runs on every node: reports that node's circuit breakers (they live on the calling side)
 * and bulkheads (on the called side), and logs each breaker state change where it happens.
 */
export function resilienceService(): ServiceSchema {
  return {
    name: "resilience",
    mixins: [eventLoopDelayMixin(), MetricsMixin(["breakerStateChanges", "eventLoopDelayP99", "eventLoopDelayMax"])],
    actions: {
      report: {
        visibility: "public",
        handler(): ResilienceReport {
          const gauge = (name: string): GaugeValue[] =>
            (this.broker.metrics.getMetric(name)?.snapshot() ?? []).flatMap((entry) =>
              "value" in entry ? [{ labels: entry.labels as GaugeValue["labels"], value: entry.value as number }] : [],
            );
          const queued = new Map(gauge("moleculer.request.bulkhead.queue.size").map((entry) => [entry.labels.action, entry.value]));
          return {
            nodeID: this.broker.nodeID,
            breakers: breakersOf(this.broker),
            bulkheads: gauge("moleculer.request.bulkhead.inflight").map((entry) => ({
              action: entry.labels.action ?? "?",
              inFlight: entry.value,
              queued: queued.get(entry.labels.action) ?? 0,
            })),
          };
        },
      },
    },
    events: {
      "$circuit-breaker.opened"(ctx: Context<BreakerEvent>) {
        if (ctx.nodeID !== this.broker.nodeID) return;
        this.broker.metrics.increment(appMetric(this.broker, "breakerStateChanges"), { action: ctx.params.action, state: "open" });
        const { action, nodeID, failures, count } = ctx.params;
        this.logger.warn(`circuit breaker OPEN for ${action} on ${nodeID}: ${failures} failures in ${count} calls`);
      },
      "$circuit-breaker.half-opened"(ctx: Context<BreakerEvent>) {
        if (ctx.nodeID !== this.broker.nodeID) return;
        this.broker.metrics.increment(appMetric(this.broker, "breakerStateChanges"), { action: ctx.params.action, state: "half-open" });
        this.logger.info(`circuit breaker HALF-OPEN for ${ctx.params.action} on ${ctx.params.nodeID}: trying one call`);
      },
      "$circuit-breaker.closed"(ctx: Context<BreakerEvent>) {
        if (ctx.nodeID !== this.broker.nodeID) return;
        this.broker.metrics.increment(appMetric(this.broker, "breakerStateChanges"), { action: ctx.params.action, state: "closed" });
        this.logger.info(`circuit breaker CLOSED for ${ctx.params.action} on ${ctx.params.nodeID}`);
      },
    },
  };
}

import { monitorEventLoopDelay } from "node:perf_hooks";
import { ServiceSchema } from "moleculer";
import { appMetric } from "./metrics.mixin";

/** How often the histogram is sampled: a timer every 10 ms, whose lateness is the delay. */
const RESOLUTION_MS = 10;
/** The window each reading covers: the gauges hold the last complete one, then the histogram starts afresh. */
export const EVENT_LOOP_WINDOW_MS = 5_000;

/**
 * The event-loop delay of the node, as two gauges (p99 and max over the last 5 s window):
 * Moleculer 0.15 no longer reports event-loop lag. The histogram records the time between
 * two ticks of a 10 ms timer, so the delay is that time minus the 10 ms (0 on an idle loop).
 * Windowed rather than cumulative since start, so that a long-running node's p99 still moves.
 * Mixed into a service every node runs (resilience); both gauges read 0 until the first window ends.
 */
export function eventLoopDelayMixin(): Partial<ServiceSchema> {
  let histogram: ReturnType<typeof monitorEventLoopDelay> | undefined;
  let timer: NodeJS.Timeout | undefined;
  return {
    started() {
      const p99 = appMetric(this.broker, "eventLoopDelayP99");
      const max = appMetric(this.broker, "eventLoopDelayMax");
      this.broker.metrics.set(p99, 0);
      this.broker.metrics.set(max, 0);
      histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
      histogram.enable();
      const delayMs = (nanoseconds: number) => Math.max(0, Math.round((nanoseconds / 1e6 - RESOLUTION_MS) * 100) / 100);
      timer = setInterval(() => {
        if (!histogram || histogram.count === 0) return;
        this.broker.metrics.set(p99, delayMs(histogram.percentile(99)));
        this.broker.metrics.set(max, delayMs(histogram.max));
        histogram.reset();
      }, EVENT_LOOP_WINDOW_MS);
      timer.unref();
    },
    stopped() {
      clearInterval(timer);
      histogram?.disable();
      histogram = undefined;
    },
  };
}

import { Context, Errors, Service, ServiceSchema } from "moleculer";
import { ChaosSettings } from "../config";

/** The participants whose calls chaos can break. */
export const CHAOS_TARGETS = ["antifraud", "payments"] as const;
export type ChaosTarget = (typeof CHAOS_TARGETS)[number];

/** Broadcast by the gateway; every instance of the named service applies it. */
export const CHAOS_CONFIGURED = "chaos.configured";
export interface ChaosConfigured {
  service: ChaosTarget;
  settings: ChaosSettings;
}

type ChaosThis = Service & { chaos: ChaosSettings; injectChaos(): Promise<void> };

/** How long a "timeout" failure keeps the call unanswered when no request timeout is set. */
const DEFAULT_HANG_MS = 10_000;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

/**
 * Faults injected at run time into the named actions of a participant: added latency, and a
 * share of calls that fail, either with a retryable 503 or by not answering until the
 * caller's request timeout. Settings start from the environment and change through the
 * gateway's admin route (a broadcast, so that every instance of the service follows).
 */
export function ChaosMixin(initial: ChaosSettings, actions: readonly string[], random: () => number = Math.random): Partial<ServiceSchema> {
  const before = Object.fromEntries(
    actions.map((action) => [
      action,
      function (this: ChaosThis) {
        return this.injectChaos();
      },
    ]),
  );
  return {
    hooks: { before },
    actions: {
      chaos: {
        visibility: "public",
        handler(this: ChaosThis): ChaosSettings {
          return this.chaos;
        },
      },
    },
    events: {
      [CHAOS_CONFIGURED](this: ChaosThis, ctx: Context<ChaosConfigured>) {
        if (ctx.params.service !== this.name) return;
        this.chaos = { ...ctx.params.settings };
        this.logger.warn(`chaos on ${this.name}: ${JSON.stringify(this.chaos)}`);
      },
    },
    methods: {
      async injectChaos(this: ChaosThis): Promise<void> {
        const { latencyMs, failureRate, mode } = this.chaos;
        if (latencyMs > 0) await sleep(latencyMs);
        if (failureRate === 0 || random() >= failureRate) return;
        if (mode === "timeout") await sleep((this.broker.options.requestTimeout || DEFAULT_HANG_MS) + 1000);
        throw new Errors.MoleculerRetryableError(`chaos: ${this.name} failed on purpose`, 503, "CHAOS_INJECTED_FAILURE");
      },
    },
    created() {
      this.chaos = { ...initial };
    },
  };
}

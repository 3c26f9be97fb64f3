import { CallingOptions, Context, Errors, Service, ServiceSchema } from "moleculer";
import { ChaosMode, ChaosSettings } from "../config";

/** The participants whose calls chaos can break. */
export const CHAOS_TARGETS = ["antifraud", "payments"] as const;
export type ChaosTarget = (typeof CHAOS_TARGETS)[number];

/** Broadcast by the gateway; every instance of the named service applies it. */
export const CHAOS_CONFIGURED = "chaos.configured";
export interface ChaosConfigured {
  service: ChaosTarget;
  settings: ChaosSettings;
}

export const CHAOS_MODES = ["error", "timeout"] as const satisfies readonly ChaosMode[];
/** The most latency an operator may add to each call (the config's own bound). */
export const MAX_CHAOS_LATENCY_MS = 600_000;

/** What calls and broadcasts: a Context inside an action, the broker itself in the REPL. */
export interface ChaosClient {
  call<T, P>(action: string, params: P, opts?: CallingOptions): Promise<T>;
  broadcast<D>(event: string, data: D): Promise<void>;
}

/** A target's current settings, or why it did not answer. */
export type ChaosReading = ChaosSettings | { error: string };

const CHAOS_CALL_TIMEOUT_MS = 2000;

/** The settings every chaos target answers with (one instance of each, whichever answers). */
export async function readChaos(client: Pick<ChaosClient, "call">): Promise<Array<{ service: ChaosTarget; reading: ChaosReading }>> {
  return Promise.all(
    CHAOS_TARGETS.map(async (service) => ({
      service,
      reading: await client
        .call<ChaosSettings, object>(`${service}.chaos`, {}, { timeout: CHAOS_CALL_TIMEOUT_MS, retries: 0 })
        .catch((error: Error): ChaosReading => ({ error: error.message })),
    })),
  );
}

/**
 * Merges `changes` (already validated) into the service's current settings and broadcasts
 * the result: every instance of the service applies the same settings, not just the one
 * that answered. Answers the new settings.
 */
export async function configureChaos(client: ChaosClient, service: ChaosTarget, changes: Partial<ChaosSettings>): Promise<ChaosSettings> {
  const current = await client.call<ChaosSettings, object>(`${service}.chaos`, {}, { timeout: CHAOS_CALL_TIMEOUT_MS });
  // Field by field: a change given as undefined keeps the current value.
  const settings: ChaosSettings = {
    failureRate: changes.failureRate ?? current.failureRate,
    latencyMs: changes.latencyMs ?? current.latencyMs,
    mode: changes.mode ?? current.mode,
  };
  const configured: ChaosConfigured = { service, settings };
  await client.broadcast(CHAOS_CONFIGURED, configured);
  return settings;
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
        // A mixin's actions see Moleculer's own `this`: the settings are read as what created() set.
        handler(this: Service & Partial<ChaosThis>): ChaosSettings | undefined {
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

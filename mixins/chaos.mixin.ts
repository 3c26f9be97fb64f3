import { setMaxListeners } from "node:events";
import { setTimeout as sleep } from "node:timers/promises";
import { CallingOptions, Context, Errors, Service, ServiceSchema } from "moleculer";
import { ChaosMode, ChaosSettings } from "../config";

/** The participants whose calls chaos can break. */
export const CHAOS_TARGETS = ["antifraud", "payments"] as const;
export type ChaosTarget = (typeof CHAOS_TARGETS)[number];

/** Broadcast by the gateway; every instance of the named service applies it. */
export const CHAOS_CONFIGURED = "chaos.configured";
/** The span event of an injected fault. */
export const CHAOS_SPAN_EVENT = "chaos.injected";
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

/** One signal wakes every held call (a bulkhead's worth or more): no listener limit. */
function newChaosController(): AbortController {
  const controller = new AbortController();
  setMaxListeners(0, controller.signal);
  return controller;
}

/** The settings every chaos target answers with (one instance of each, whichever answers). */
export async function readChaos(client: Pick<ChaosClient, "call">): Promise<{ service: ChaosTarget; reading: ChaosReading }[]> {
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

type ChaosThis = Service & {
  chaos: ChaosSettings;
  /** Aborted (and replaced) whenever new settings arrive: it wakes every call chaos holds. */
  chaosChanged: AbortController;
  injectChaos(ctx: Context): Promise<void>;
  chaosPause(ms: number): Promise<boolean>;
};

/** How long a "timeout" failure keeps the call unanswered when its caller waits for ever. */
const DEFAULT_HANG_MS = 10_000;
/**
 * A delay cut by the caller's deadline ends this much after it: the caller's own timer (started
 * a moment after the deadline's clock) fires first, so that a latency longer than the timeout
 * still reaches the caller as its timeout, and the answer is lost as a slow answer is.
 */
const AFTER_DEADLINE_MS = 10;

/**
 * How long the caller still waits for this call, in ms: what is left of the context's timeout
 * (Moleculer's Timeout middleware starts its clock before the bulkhead queue, and a remote
 * caller sends its timeout along), else the broker's requestTimeout; undefined when nobody
 * gives up.
 */
function callerPatienceMs(ctx: Pick<Context, "options" | "startHrTime">, requestTimeout: number | undefined): number | undefined {
  const timeout = ctx.options.timeout ?? 0;
  if (timeout > 0) {
    if (!ctx.startHrTime) return timeout;
    const [seconds, nanoseconds] = process.hrtime(ctx.startHrTime);
    return timeout - (seconds * 1e3 + nanoseconds / 1e6);
  }
  return requestTimeout && requestTimeout > 0 ? requestTimeout : undefined;
}

const hangs = ({ failureRate, mode }: ChaosSettings) => mode === "timeout" && failureRate > 0;

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
      function (this: ChaosThis, ctx: Context) {
        return this.injectChaos(ctx);
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
        // The calls chaos holds wake up and follow the new settings: a reset releases them at once.
        const changed = this.chaosChanged;
        this.chaosChanged = newChaosController();
        changed.abort();
        this.logger.warn(`chaos on ${this.name}: ${JSON.stringify(this.chaos)}`);
      },
    },
    methods: {
      /**
       * Every wait is bounded by the caller's patience: a call it has given up on does not keep
       * its bulkhead slot for as long as the latency says. Each wait follows the settings in
       * force, so new settings (a reset) end it at once.
       */
      async injectChaos(this: ChaosThis, ctx: Context): Promise<void> {
        const start = performance.now();
        const deadline = start + (callerPatienceMs(ctx, this.broker.options.requestTimeout) ?? Number.POSITIVE_INFINITY) + AFTER_DEADLINE_MS;
        // Latency: until latencyMs (as now set) have passed since the call came in.
        for (let left = Math.min(start + this.chaos.latencyMs, deadline) - start; left > 0;) {
          await this.chaosPause(left);
          left = Math.min(start + this.chaos.latencyMs, deadline) - performance.now();
        }
        // On the call's own span: a trace shows where the fault was injected, and which.
        const delayed = performance.now() - start;
        if (this.chaos.latencyMs > 0) ctx.span?.log(CHAOS_SPAN_EVENT, { "chaos.kind": "latency", "chaos.latency_ms": Math.round(delayed) });
        const { failureRate, mode } = this.chaos;
        if (failureRate === 0 || random() >= failureRate) return;
        ctx.span?.log(CHAOS_SPAN_EVENT, { "chaos.kind": "failure", "chaos.mode": mode, "chaos.failure_rate": failureRate });
        if (mode === "timeout") {
          // No answer until the caller gives up (then the timeout it sees), or until the settings
          // stop asking for hangs (then a quick failure that its retry gets past).
          const end = Math.min(deadline, performance.now() + DEFAULT_HANG_MS);
          for (let left = end - performance.now(); left > 0 && hangs(this.chaos); left = end - performance.now()) {
            await this.chaosPause(left);
          }
          if (hangs(this.chaos)) throw new Errors.RequestTimeoutError({ action: ctx.action?.name ?? this.name, nodeID: this.broker.nodeID });
        }
        throw new Errors.MoleculerRetryableError(`chaos: ${this.name} failed on purpose`, 503, "CHAOS_INJECTED_FAILURE");
      },

      /** Waits `ms` on an unref'd timer, or less when new settings arrive (then true). */
      async chaosPause(this: ChaosThis, ms: number): Promise<boolean> {
        const { signal } = this.chaosChanged;
        try {
          await sleep(ms, undefined, { signal, ref: false });
          return false;
        } catch (error) {
          if (signal.aborted) return true;
          throw error;
        }
      },
    },
    created() {
      this.chaos = { ...initial };
      this.chaosChanged = newChaosController();
    },
  };
}

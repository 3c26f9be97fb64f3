import { randomUUID } from "node:crypto";
import { Context, Errors, ServiceSchema } from "moleculer";
import { Delivery } from "../../adapters/bus";
import { CHAOS_CONFIGURED, ChaosConfigured } from "../../mixins/chaos.mixin";
import { ResilienceReport } from "../../services/resilience.service";
import { busFixtures } from "../support/buses";
import { EmbeddedApp, startEmbeddedApp } from "../support/embedded-app";
import { waitFor } from "../../tools/wait-for";

const ATTEMPTS = 4;
const BASE_MS = 60;
const MAX_MS = 480;
/** Time a delivery may take besides its delay: the broker's own retry, the breaker, the test's clock. */
const SLACK_MS = 400;

/** A breaker minimum no test reaches: the breaker stays closed and every failure spends an attempt. */
const NEVER_OPENS = 1_000_000;

const placement = (index: number) => ({ customerId: `c-${index}`, currency: "EUR", items: [{ productId: "p", quantity: 1, unitPrice: 100 + index }] });

interface Observed {
  deliveries: Map<string, { attempt: number; at: number }[]>;
  breakerOpened: { action: string }[];
  fraudChecks: number;
}

/** Records what the test needs to see, through mixins: deliveries, breaker events, calls. */
function observing(observed: Observed): Partial<Record<"orchestrator" | "antifraud", Partial<ServiceSchema>>> {
  return {
    orchestrator: {
      created() {
        const handle = this.handleDelivery as (delivery: Delivery) => Promise<void>;
        this.handleDelivery = (delivery: Delivery) => {
          const orderId = String((delivery.payload.data as { orderId: string }).orderId);
          const seen = observed.deliveries.get(orderId) ?? [];
          seen.push({ attempt: delivery.attempt, at: Date.now() });
          observed.deliveries.set(orderId, seen);
          return handle.call(this, delivery);
        };
      },
      events: {
        "$circuit-breaker.opened"(ctx: Context<{ action: string }>) {
          observed.breakerOpened.push({ action: ctx.params.action });
        },
      },
    },
    antifraud: { hooks: { before: { check: () => void (observed.fraudChecks += 1) } } },
  };
}

describe.each(busFixtures)("resilience on the $name", (bus) => {
  let app: EmbeddedApp;
  let observed: Observed;
  let namespace: string;

  /**
   * Antifraud fails every call. `breakerMinRequests` decides whether its breaker opens: with a
   * high one it never does, and every message spends its attempts and dies.
   */
  async function start(breakerMinRequests: number) {
    observed = { deliveries: new Map(), breakerOpened: [], fraudChecks: 0 };
    const env: Record<string, string> = {
      ...bus.env(),
      ANTIFRAUD_CHAOS_FAILURE_RATE: "1",
      BUS_RETRY_ATTEMPTS: String(ATTEMPTS),
      BUS_RETRY_BASE_MS: String(BASE_MS),
      BUS_RETRY_MAX_MS: String(MAX_MS),
      RETRY_RETRIES: "1",
      RETRY_DELAY_MS: "5",
      BREAKER_MIN_REQUESTS: String(breakerMinRequests),
      BREAKER_THRESHOLD: "0.5",
      BREAKER_HALF_OPEN_MS: "1000",
      ADMIN_TOKEN: "test-admin-token",
    };
    namespace = env.BUS_NAMESPACE!;
    app = await startEmbeddedApp({ env, mods: observing(observed) });
  }
  afterEach(async () => {
    await app.stop();
    await bus.cleanUp(namespace, ["orchestrator"]);
  });

  const call = <T>(action: string, params: object = {}) => app.broker.call<T, object>(action, params);
  /** What an operator does before a replay: turn the fault off, wait for the breaker to let calls through. */
  async function chaosOff() {
    const settings = { failureRate: 0, latencyMs: 0, mode: "error" } as const;
    await app.broker.broadcast(CHAOS_CONFIGURED, { service: "antifraud", settings } satisfies ChaosConfigured);
    await waitFor(
      async () => {
        const report = await call<ResilienceReport>("resilience.report");
        return report.breakers.every((breaker) => breaker.state !== "open");
      },
      { timeoutMs: 5_000, what: "the breaker to half-open" },
    );
  }

  async function ledger() {
    const orders = await call<{ items: { status: string; id: string }[] }>("orders.list", { limit: 100 });
    const dead = await call<{ items: { orderId: string }[] }>("dlq.list", { status: "dead", limit: 100 });
    const terminal = orders.items.filter((order) => order.status !== "pending").length;
    return { created: orders.items.length, terminal, dead: dead.items.length, deadOrders: dead.items.map((entry) => entry.orderId) };
  }

  it("delivers a message exactly `attempts` times with growing jittered delays and dead-letters it; replayed after chaos off, the order is confirmed", async () => {
    await start(NEVER_OPENS);
    const orders: { id: string }[] = [];
    for (let index = 0; index < 12; index += 1) orders.push(await call<{ id: string }>("orders.create", placement(index)));

    const dead = await waitFor(
      async () => {
        const page = await call<{ items: { id: string; orderId: string; attempts: number; lastError: string; eventType: string; originQueue: string }[] }>(
          "dlq.list",
          { limit: 100 },
        );
        return page.items.length === orders.length ? page.items : undefined;
      },
      { timeoutMs: 20_000, what: "every order's message in the DLQ" },
    );

    // Exactly `attempts` deliveries per message, numbered 1..attempts.
    for (const order of orders) {
      expect(observed.deliveries.get(order.id)!.map((delivery) => delivery.attempt)).toEqual([1, 2, 3, 4]);
    }
    expect(dead[0]).toMatchObject({
      eventType: "OrderCreated",
      originQueue: "orchestrator",
      attempts: ATTEMPTS,
      lastError: expect.stringMatching(/chaos: antifraud failed on purpose|Service 'antifraud.check' is not available/),
    });
    expect(new Set(dead.map((entry) => entry.orderId))).toEqual(new Set(orders.map((order) => order.id)));
    const entry = await call<{
      message: {
        payload: { data: { orderId: string } };
        headers: Record<string, unknown>;
        error: { name: string; stack: string };
        firstFailureAt: string;
        lastFailureAt: string;
      };
    }>("dlq.show", { id: dead[0]!.id });
    expect(entry.message.payload.data.orderId).toBe(dead[0]!.orderId);
    expect(entry.message.headers).toMatchObject({ correlationId: expect.any(String) });
    expect(entry.message.error.stack.length).toBeGreaterThan(0);
    expect(Date.parse(entry.message.lastFailureAt)).toBeGreaterThan(Date.parse(entry.message.firstFailureAt));

    // Delays: within [0, cap(n)] (plus the time a delivery takes), random, and longer on average for later attempts.
    const gaps = [1, 2, 3].map((failures) =>
      orders.map((order) => {
        const seen = observed.deliveries.get(order.id)!;
        return seen[failures]!.at - seen[failures - 1]!.at;
      }),
    );
    gaps.forEach((gapsAfter, index) => {
      const cap = Math.min(MAX_MS, BASE_MS * 2 ** index);
      for (const gap of gapsAfter) expect(gap).toBeLessThanOrEqual(cap + SLACK_MS);
    });
    const mean = (values: number[]) => values.reduce((sum, value) => sum + value, 0) / values.length;
    expect(mean(gaps[2]!)).toBeGreaterThan(mean(gaps[0]!));
    expect(Math.max(...gaps[2]!) - Math.min(...gaps[2]!)).toBeGreaterThan(0);

    // Quiet point: every order is terminal or has its message in the DLQ.
    const quiet = await ledger();
    expect(quiet).toMatchObject({ created: 12, terminal: 0, dead: 12 });

    // Chaos off, replay one: once the breaker lets a call through again, the order is confirmed.
    await chaosOff();
    const replayed = await call<{ status: string; replays: number }>("dlq.replay", { id: dead[0]!.id });
    expect(replayed).toMatchObject({ status: "replayed", replays: 1 });
    await expect(call("dlq.replay", { id: dead[0]!.id })).resolves.toMatchObject({ status: "replayed", replays: 1 });
    await waitFor(async () => (await call<{ status: string }>("orders.get", { id: dead[0]!.orderId })).status === "confirmed", {
      timeoutMs: 15_000,
      what: "the replayed order to be confirmed",
    });
    expect(await ledger()).toMatchObject({ created: 12, terminal: 1, dead: 11 });
  });

  it("replays all under load: every order ends confirmed and the DLQ is empty", async () => {
    await start(NEVER_OPENS);
    const first = [];
    for (let index = 0; index < 10; index += 1) first.push(await call<{ id: string }>("orders.create", placement(index)));
    await waitFor(async () => (await ledger()).dead === first.length, { timeoutMs: 20_000, what: "the first orders in the DLQ" });

    await chaosOff();
    const [replayAll] = await Promise.all([
      call<{ id: string }>("dlq.replayAll", { originQueue: "orchestrator" }),
      (async () => {
        for (let index = 10; index < 30; index += 1) await call("orders.create", placement(index));
      })(),
    ]);

    // A replay job: it answers at once and replays in the background.
    const job = await waitFor(async () => {
      const now = await call<{ status: string }>("dlq.job", { id: replayAll.id });
      return now.status === "running" ? undefined : now;
    });
    expect(job).toMatchObject({ status: "done", total: 10, replayed: 10, skipped: 0, failed: 0 });
    const settled = await waitFor(
      async () => {
        const now = await ledger();
        return now.terminal + now.dead === now.created && now.created === 30 && now.dead === 0 ? now : undefined;
      },
      { timeoutMs: 30_000, what: "every order to be confirmed" },
    );
    expect(settled).toMatchObject({ created: 30, terminal: 30, dead: 0 });
    const confirmed = await call<{ items: unknown[] }>("orders.list", { status: "confirmed", limit: 100 });
    expect(confirmed.items).toHaveLength(30);
  });
  it("opens the breaker: calls fail fast without reaching antifraud, and the saga messages wait with their attempts unspent, then complete once antifraud is back", async () => {
    await start(4);
    const orders: { id: string }[] = [];
    for (let index = 0; index < 6; index += 1) orders.push(await call<{ id: string }>("orders.create", placement(index)));
    await waitFor(() => observed.breakerOpened.some((event) => event.action === "antifraud.check"), { what: "the breaker to open" });

    // While open, calls fail fast without reaching antifraud.
    const checksBefore = observed.fraudChecks;
    const fastFail = await app.broker
      .call("antifraud.check", { orderId: randomUUID(), customerId: "c", total: 1, currency: "EUR" }, { retries: 0 })
      .catch((error: unknown) => error);
    expect(fastFail).toBeInstanceOf(Errors.ServiceNotAvailableError);
    expect(observed.fraudChecks).toBe(checksBefore);

    // Through a half-open whose trial fails, nothing dies: the messages go back unspent.
    await waitFor(() => observed.breakerOpened.length >= 2, { timeoutMs: 5_000, what: "a failed trial to open the breaker again" });
    expect(await ledger()).toMatchObject({ created: 6, terminal: 0, dead: 0 });
    const attempts = [...observed.deliveries.values()].flatMap((deliveries) => deliveries.map((delivery) => delivery.attempt));
    expect(Math.max(...attempts)).toBeLessThan(ATTEMPTS);

    // Antifraud back: no replay needed, every order completes once the breaker lets calls through.
    await app.broker.broadcast(CHAOS_CONFIGURED, { service: "antifraud", settings: { failureRate: 0, latencyMs: 0, mode: "error" } } satisfies ChaosConfigured);
    await waitFor(async () => (await ledger()).terminal === 6, { timeoutMs: 10_000, what: "every order to be confirmed" });
    expect(await ledger()).toMatchObject({ created: 6, terminal: 6, dead: 0 });
  });
});

import { Errors } from "moleculer";
import { configureChaos } from "../../mixins/chaos.mixin";
import { ResilienceReport } from "../../services/resilience.service";
import { EmbeddedApp, startEmbeddedApp } from "../support/embedded-app";
import { waitFor } from "../../tools/wait-for";

/** The most chaos may add (the config's bound): ten minutes. */
const TEN_MINUTES_MS = "600000";
/** A generous bound for "at once": what matters is seconds, not the ten minutes chaos asked for. */
const SOON_MS = 10_000;

const placement = (index: number) => ({ customerId: `c-${index}`, currency: "EUR", items: [{ productId: "p", quantity: 1, unitPrice: 100 + index }] });
const fraudCheck = { orderId: "o-1", customerId: "c-1", total: 100, currency: "EUR" };

describe("chaos ends when the operator ends it", () => {
  let app: EmbeddedApp | undefined;
  afterEach(async () => {
    await app?.stop();
    app = undefined;
  });

  const start = async (env: Record<string, string>) => (app = await startEmbeddedApp({ env: { BUS_NAMESPACE: `test-${Date.now()}`, ...env } }));

  /** Calls of antifraud.check that hold a slot of its bulkhead, and calls waiting for one. */
  async function fraudBulkhead(running: EmbeddedApp) {
    const report = await running.broker.call<ResilienceReport, object>("resilience.report", {});
    const gauge = report.bulkheads.find((bulkhead) => bulkhead.action === "antifraud.check");
    return { inFlight: gauge?.inFlight ?? 0, queued: gauge?.queued ?? 0 };
  }

  async function placeOrders(running: EmbeddedApp, from: number, count: number): Promise<string[]> {
    const ids: string[] = [];
    for (let index = from; index < from + count; index += 1) {
      ids.push((await running.broker.call<{ id: string }, object>("orders.create", placement(index))).id);
    }
    return ids;
  }

  async function allConfirmed(running: EmbeddedApp, ids: string[]): Promise<boolean> {
    const orders = await Promise.all(ids.map((id) => running.broker.call<{ status: string }, object>("orders.get", { id })));
    return orders.every((order) => order.status === "confirmed");
  }

  it("a reset of ten minutes of latency releases the calls asleep in the bulkhead: old and new orders confirm within seconds", async () => {
    // Callers that wait a minute: the reset, not their timeout, must be what frees the slots.
    const running = await start({ ANTIFRAUD_CHAOS_LATENCY_MS: TEN_MINUTES_MS, REQUEST_TIMEOUT_MS: "60000", BULKHEAD_CONCURRENCY: "4" });
    const asleep = await placeOrders(running, 0, 6);
    await waitFor(
      async () => {
        const bulkhead = await fraudBulkhead(running);
        return bulkhead.inFlight === 4 && bulkhead.queued === 2;
      },
      { timeoutMs: SOON_MS, what: "sleepers to hold every slot of antifraud's bulkhead" },
    );

    await configureChaos(running.broker, "antifraud", { latencyMs: 0 });
    const resetAt = Date.now();
    const fresh = await placeOrders(running, 6, 4);

    await waitFor(() => allConfirmed(running, [...asleep, ...fresh]), { timeoutMs: SOON_MS, intervalMs: 50, what: "every order to confirm after the reset" });
    expect(Date.now() - resetAt).toBeLessThan(SOON_MS);
    expect(await fraudBulkhead(running)).toEqual({ inFlight: 0, queued: 0 });
  });

  it("a reset releases the 'timeout' mode's hang: the held calls fail fast, their retries pass, the orders confirm", async () => {
    const running = await start({
      ANTIFRAUD_CHAOS_FAILURE_RATE: "1",
      ANTIFRAUD_CHAOS_MODE: "timeout",
      REQUEST_TIMEOUT_MS: "60000",
      BULKHEAD_CONCURRENCY: "4",
    });
    const hanging = await placeOrders(running, 0, 3);
    await waitFor(async () => (await fraudBulkhead(running)).inFlight === 3, { timeoutMs: SOON_MS, what: "three calls to hang in antifraud" });

    await configureChaos(running.broker, "antifraud", { failureRate: 0 });

    await waitFor(() => allConfirmed(running, hanging), { timeoutMs: SOON_MS, intervalMs: 50, what: "the held orders to confirm after the reset" });
  });

  describe("an injected delay never outlives its caller's timeout", () => {
    it("the call's own timeout: the slot is free as soon as the caller gave up", async () => {
      const running = await start({ ANTIFRAUD_CHAOS_LATENCY_MS: TEN_MINUTES_MS, REQUEST_TIMEOUT_MS: "60000", RETRY_RETRIES: "0" });
      const calledAt = Date.now();
      await expect(running.broker.call("antifraud.check", fraudCheck, { timeout: 300 })).rejects.toBeInstanceOf(Errors.RequestTimeoutError);
      await waitFor(async () => (await fraudBulkhead(running)).inFlight === 0, { timeoutMs: 5_000, what: "the sleeper to leave the bulkhead" });
      expect(Date.now() - calledAt).toBeLessThan(5_000);
    });

    it("the broker's requestTimeout, for a caller that set none: the call answers once it has passed", async () => {
      const running = await start({ ANTIFRAUD_CHAOS_LATENCY_MS: TEN_MINUTES_MS, REQUEST_TIMEOUT_MS: "300", RETRY_RETRIES: "0" });
      const calledAt = Date.now();
      // timeout 0: this caller would wait for ever; the delay still ends with the broker's timeout.
      await expect(running.broker.call("antifraud.check", fraudCheck, { timeout: 0 })).resolves.toMatchObject({ decision: "approved" });
      expect(Date.now() - calledAt).toBeLessThan(5_000);
      expect(await fraudBulkhead(running)).toEqual({ inFlight: 0, queued: 0 });
    });

    it("a call that waited in the bulkhead queue past its deadline is not put to sleep again", async () => {
      const running = await start({ ANTIFRAUD_CHAOS_LATENCY_MS: TEN_MINUTES_MS, REQUEST_TIMEOUT_MS: "400", RETRY_RETRIES: "0", BULKHEAD_CONCURRENCY: "1" });
      const calledAt = Date.now();
      const calls = [1, 2, 3, 4, 5].map(() => running.broker.call("antifraud.check", fraudCheck).catch((error: unknown) => error));
      for (const outcome of await Promise.all(calls)) expect(outcome).toBeInstanceOf(Errors.RequestTimeoutError);
      await waitFor(
        async () => {
          const bulkhead = await fraudBulkhead(running);
          return bulkhead.inFlight === 0 && bulkhead.queued === 0;
        },
        { timeoutMs: 5_000, what: "the bulkhead to empty" },
      );
      // Five sleeps of 400 ms one after the other would take 2 s; the queued calls pass at once.
      expect(Date.now() - calledAt).toBeLessThan(1_500);
    });
  });
});

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { clusterPerTest } from "../support/cluster-harness";
import { leaseHoldersOf } from "../../tools/cluster/lease-holders";
import { CLUSTER_NODES } from "../../tools/cluster/nodes";
import { DEADLINE_LEASE } from "../../services/orchestrator/deadline-scheduler";
import { rabbitmqctl } from "../../tools/cluster/rabbitmq-control";
import { waitFor } from "../../tools/wait-for";

interface SagaAnswer {
  status: string;
  outcome: string | null;
  reason: string | null;
  step: string | null;
  timeline: { event: string; step?: string }[];
}

/**
 * Payments slower than the saga's deadline, its calls given time to answer (REQUEST_TIMEOUT_MS
 * above the latency): only the deadline can end the saga.
 */
const SLOW_PAYMENTS = { SAGA_DEADLINE_MS: "3000", PAYMENTS_CHAOS_LATENCY_MS: "5000", REQUEST_TIMEOUT_MS: "15000" };

/** Messages of a queue, ready or delivered and not acked yet. */
async function messagesIn(queue: string): Promise<number> {
  const lines = (await rabbitmqctl("list_queues", "--quiet", "--no-table-headers", "name", "messages")).split("\n");
  const line = lines.map((entry) => entry.trim().split(/\s+/)).find(([name]) => name === queue);
  if (!line) throw new Error(`no queue ${queue}`);
  return Number(line[1]);
}

describe("saga deadlines in the local cluster: one process per service over RabbitMQ", () => {
  const clusters = clusterPerTest();
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), "glitchbuster-deadline-"))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  async function get<T>(baseUrl: string, path: string): Promise<T> {
    const response = await fetch(`${baseUrl}${path}`);
    if (!response.ok) throw new Error(`GET ${path}: ${response.status}`);
    return (await response.json()) as T;
  }

  it("times out a saga whose payment outlasts its deadline: the order is rejected DEADLINE_EXCEEDED, the payment voided", async () => {
    const harness = await clusters.start("saga-deadline-timeout", SLOW_PAYMENTS);
    const [orderId] = await harness.placeOrders(1);

    const saga = await waitFor(
      async () => {
        const answer = await get<SagaAnswer>(harness.baseUrl, `/sagas/${orderId}`).catch(() => undefined);
        return answer?.status === "ended" ? answer : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200, what: `the saga to end (see ${harness.logFile})` },
    );

    expect(saga).toMatchObject({ outcome: "timed-out", reason: "DEADLINE_EXCEEDED" });
    expect(saga.timeline.filter((entry) => entry.event === "SagaTimedOut")).toEqual([expect.objectContaining({ step: "authorizePayment" })]);
    expect(saga.timeline.map((entry) => entry.event)).not.toContain("SagaStepSucceeded:confirmOrder");
    await expect(get(harness.baseUrl, `/orders/${orderId}`)).resolves.toMatchObject({ status: "rejected", reason: "DEADLINE_EXCEEDED" });
    expect(await harness.log.countOfType("PaymentVoided")).toBe(1);
    expect(await harness.log.paymentsHeldForUnconfirmedOrders()).toBe(0);
    expect(await harness.log.repeatedSagaSteps()).toEqual([]);
    // The order's message was still being handled (its payment answered late, then voided
    // again, idempotently): done before the cluster stops, or payments stops first.
    await waitFor(async () => (await messagesIn(`${harness.namespace}.orchestrator`)) === 0, {
      timeoutMs: 15_000,
      intervalMs: 200,
      what: "the order's message to be acked",
    });
  }, 60_000);

  it("fires a deadline once when the orchestrator holding the scheduler's lease is killed (-9) while it waits for it", async () => {
    const eventStoreUrl = `sqlite:${join(dir, "events.db")}`;
    const harness = await clusters.start("saga-deadline-kill", { ...SLOW_PAYMENTS, SAGA_DEADLINE_MS: "4000", EVENT_STORE_URL: eventStoreUrl });
    const leaseHolders = leaseHoldersOf(eventStoreUrl)!;
    try {
      const [orderId] = await harness.placeOrders(1);
      await waitFor(async () => (await get<SagaAnswer>(harness.baseUrl, `/sagas/${orderId}`).catch(() => undefined))?.step === "authorizePayment", {
        timeoutMs: 10_000,
        what: "the saga to wait on its payment",
      });
      const holderPid = await waitFor(() => leaseHolders.holderPid(DEADLINE_LEASE), { what: "an orchestrator to hold the scheduler's lease" });
      const holder = [...harness.cluster.running.values()].find((running) => running.process.pid === holderPid)!.node;
      expect(holder.name).toMatch(/^orchestrator-/);
      expect(await harness.log.countOfType("SagaTimedOut")).toBe(0);

      await harness.cluster.kill(holder.name);
      const saga = await waitFor(
        async () => {
          const answer = await get<SagaAnswer>(harness.baseUrl, `/sagas/${orderId}`).catch(() => undefined);
          return answer?.status === "ended" ? answer : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 200, what: `the saga to end (see ${harness.logFile})` },
      );

      expect(saga).toMatchObject({ outcome: "timed-out", reason: "DEADLINE_EXCEEDED" });
      expect(saga.timeline.filter((entry) => entry.event === "SagaTimedOut")).toHaveLength(1);
      const survivor = CLUSTER_NODES.find((node) => node.name.startsWith("orchestrator-") && node.name !== holder.name)!;
      expect(await leaseHolders.holderPid(DEADLINE_LEASE)).toBe(harness.cluster.running.get(survivor.name)!.process.pid);
      await expect(get(harness.baseUrl, `/orders/${orderId}`)).resolves.toMatchObject({ status: "rejected", reason: "DEADLINE_EXCEEDED" });
      expect(await harness.log.countOfType("PaymentVoided")).toBe(1);
      expect(await harness.log.countOfType("SagaTimedOut")).toBe(1);

      await waitFor(async () => (await messagesIn(`${harness.namespace}.orchestrator`)) === 0, {
        timeoutMs: 15_000,
        intervalMs: 200,
        what: "the order's message to be acked",
      });
      // Back, so that every node stops cleanly with the cluster.
      harness.cluster.start(holder);
      await harness.nodeReady(holder.name);
    } finally {
      await leaseHolders.close();
    }
  }, 60_000);
});

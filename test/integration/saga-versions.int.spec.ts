import { once } from "node:events";
import { appendFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { clusterPerTest } from "../support/cluster-harness";
import { ClusterNode } from "../../tools/cluster/nodes";
import { createEventStore } from "../../adapters/event-store";
import { waitFor } from "../../tools/wait-for";

/** What a saga recorded: the definition it ran, its steps in order, and which orchestrators recorded them. */
interface SagaRecord {
  definition: unknown;
  steps: string[];
  recordedBy: Set<unknown>;
}

const CONFIRMED_V1 = [
  "SagaStarted",
  "SagaStepSucceeded:checkFraud",
  "SagaStepSucceeded:authorizePayment",
  "SagaStepSucceeded:confirmOrder",
  "SagaEnded:confirmed",
];
const CONFIRMED_V2 = [...CONFIRMED_V1.slice(0, -1), "SagaStepSucceeded:capturePayment", "SagaEnded:confirmed"];
const ORDERS = 200;
const V1_ORCHESTRATORS = ["orchestrator-1", "orchestrator-2"];
/** The orchestrators that replace them, named apart so that each recorded step says which version of the code recorded it. */
const V2_ORCHESTRATORS: ClusterNode[] = V1_ORCHESTRATORS.map((name) => ({ name: `${name}-v2`, services: ["orchestrator"], env: { SAGA_DEFINITION: "2" } }));

/**
 * Payments slow enough that sagas are in flight while the orchestrators are replaced, and failing
 * one call in five (not retried by the broker): a saga whose message waits for its redelivery
 * when its v1 orchestrator stops is resumed by whichever orchestrator takes it, a v2 one too.
 */
const SLOW_FAILING_PAYMENTS = {
  PAYMENTS_CHAOS_LATENCY_MS: "1000",
  PAYMENTS_CHAOS_FAILURE_RATE: "0.2",
  RETRY_RETRIES: "0",
  BUS_RETRY_ATTEMPTS: "20",
  BUS_RETRY_MAX_MS: "2000",
};

describe("a rolling upgrade of the saga's definition in the local cluster: one process per service over RabbitMQ", () => {
  const clusters = clusterPerTest();
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), "glitchbuster-versions-"))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it(`replaces the v1 orchestrators by v2 ones while ${ORDERS} orders run: each saga settles by its own version, no step recorded twice`, async () => {
    const eventStoreUrl = `sqlite:${join(dir, "events.db")}`;
    const harness = await clusters.start("saga-versions", { SAGA_DEFINITION: "1", EVENT_STORE_URL: eventStoreUrl, ...SLOW_FAILING_PAYMENTS });

    /** SIGTERM to a v1 orchestrator (it finishes or gives back what it holds), then its v2 successor joins. */
    const replace = async (index: number) => {
      const { process: child } = harness.cluster.running.get(V1_ORCHESTRATORS[index]!)!;
      child.kill("SIGTERM");
      await once(child, "exit");
      expect(child.exitCode).toBe(0);
      harness.cluster.start(V2_ORCHESTRATORS[index]!);
      await harness.nodeReady(V2_ORCHESTRATORS[index]!.name);
    };
    let upgrade: Promise<void> | undefined;
    const ids = await harness.placeOrders(ORDERS, 10, (placed) => {
      // One at a time, as a rolling upgrade goes: a v1 and a v2 orchestrator share the queue in between.
      if (placed === ORDERS / 4) upgrade = replace(0).then(() => replace(1));
    });
    await upgrade;
    await harness.waitUntilSettled(ORDERS, 40_000);
    // An order is confirmed before its v2 saga captures the payment: the sagas end after it.
    await waitFor(async () => (await harness.log.sagasAtWork()) === 0, {
      timeoutMs: 20_000,
      intervalMs: 200,
      what: `every saga to end (see ${harness.logFile})`,
    });

    const store = createEventStore(eventStoreUrl);
    try {
      const sagas = new Map<string, SagaRecord>();
      for (const id of ids) {
        const events = await store.read(`saga-${id}`);
        sagas.set(id, {
          definition: events[0]!.data.definition,
          steps: events.map((event) => [event.type, event.data.step ?? event.data.outcome].filter(Boolean).join(":")),
          recordedBy: new Set(events.map((event) => event.metadata.handledBy)),
        });
      }
      const v1 = [...sagas.values()].filter((saga) => saga.definition === 1);
      const v2 = [...sagas.values()].filter((saga) => saga.definition === 2);
      const v1FinishedByV2 = v1.filter((saga) => V2_ORCHESTRATORS.some((node) => saga.recordedBy.has(node.name)));
      // The run's account, in the log (test-artifacts/saga-versions.log): sagas per version and the steps they recorded.
      const runs = new Map<string, number>();
      for (const saga of sagas.values()) {
        const run = `v${String(saga.definition)}: ${saga.steps.join(" → ")}`;
        runs.set(run, (runs.get(run) ?? 0) + 1);
      }
      const account = [...runs].map(([run, count]) => `  ${count} sagas ${run}`);
      account.push(`  ${v1FinishedByV2.length} v1 sagas had steps recorded by a v2 orchestrator`);
      account.push(
        `  payments: ${await harness.log.countOfType("PaymentAuthorized")} authorised, ${await harness.log.countOfType("PaymentCaptured")} captured`,
      );
      appendFileSync(harness.logFile, `saga versions after the upgrade:\n${account.join("\n")}\n`);

      expect(v1.length + v2.length).toBe(ORDERS);
      expect(v1.length).toBeGreaterThan(0);
      expect(v2.length).toBeGreaterThan(0);
      for (const saga of v1) expect(saga.steps).toEqual(CONFIRMED_V1);
      for (const saga of v2) expect(saga.steps).toEqual(CONFIRMED_V2);
      // A v1 orchestrator never recorded anything in a v2 saga.
      // Sagas that waited for a redelivery across the upgrade were finished by the new code, by their own rules.
      expect(v1FinishedByV2.length).toBeGreaterThan(0);
      expect(v2.filter((saga) => V1_ORCHESTRATORS.some((name) => saga.recordedBy.has(name)))).toEqual([]);
      expect(await harness.log.countOfType("PaymentCaptured")).toBe(v2.length);
      expect(await harness.log.countOfType("PaymentAuthorized")).toBe(ORDERS);
      expect(await harness.log.countOfType("PaymentVoided")).toBe(0);
      expect(await harness.log.repeatedSagaSteps()).toEqual([]);
      expect(await harness.log.eventsAppendedTwice()).toBe(0);
      expect(await harness.log.deadLetteredMessages()).toBe(0);
    } finally {
      await store.close();
    }
  }, 90_000);
});

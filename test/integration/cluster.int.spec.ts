import { CLUSTER_NODES } from "../../tools/cluster/nodes";
import { clusterPerTest } from "../support/cluster-harness";
import { rabbitMqAnswers, rabbitmqctl } from "../../tools/cluster/rabbitmq-control";
import { RABBITMQ_URL } from "../support/rabbitmq";
import { waitFor } from "../../tools/wait-for";

/** Redelivery that outlasts a node restart or a broker restart: nothing may reach the DLQ here. */
const PATIENT_BUS = { BUS_RETRY_ATTEMPTS: "30", BUS_RETRY_BASE_MS: "50", BUS_RETRY_MAX_MS: "1000" };

describe("the local cluster: one process per service over RabbitMQ, one SQLite file", () => {
  const clusters = clusterPerTest();

  it(`settles 200 orders through ${CLUSTER_NODES.length} nodes, both orchestrators taking work, no saga step twice`, async () => {
    const harness = await clusters.start("cluster-200-orders");

    const ids = await harness.placeOrders(200);
    await harness.waitUntilSettled(ids.length);

    expect(await harness.log.countOfType("OrderCreated")).toBe(200);
    expect(await harness.log.terminalOrders()).toBe(200);
    expect(await harness.log.repeatedSagaSteps()).toEqual([]);
    const startedBy = await harness.log.sagasStartedBy();
    expect(Object.keys(startedBy).sort()).toEqual(["orchestrator-1", "orchestrator-2"]);
    expect(startedBy["orchestrator-1"]! + startedBy["orchestrator-2"]!).toBe(200);
  });

  it("loses nothing when an orchestrator is killed (-9) mid-run and started again", async () => {
    // Slow payments keep sagas in flight, so that the kill catches some mid-way.
    const harness = await clusters.start("cluster-kill-orchestrator", { ...PATIENT_BUS, PAYMENTS_CHAOS_LATENCY_MS: "100" });
    const cluster = harness.cluster;
    const orchestrator = CLUSTER_NODES.find((node) => node.name === "orchestrator-1")!;

    const ids = await harness.placeOrders(200, 20, async (placed) => {
      if (placed === 60) await cluster.kill("orchestrator-1");
      if (placed === 140) cluster.start(orchestrator);
    });
    await harness.nodeReady("orchestrator-1");
    await harness.waitUntilSettled(ids.length);

    expect(await harness.log.countOfType("OrderCreated")).toBe(200);
    expect(await harness.log.terminalOrders()).toBe(200);
    expect(await harness.log.repeatedSagaSteps()).toEqual([]);
  });

  it("loses nothing across a RabbitMQ restart mid-run: every order placed is settled after recovery", async () => {
    const harness = await clusters.start("cluster-rabbitmq-restart", { ...PATIENT_BUS, PAYMENTS_CHAOS_LATENCY_MS: "100", LOG_LEVEL: "info" });
    let restarted: Promise<void> | undefined;

    const ids = await harness.placeOrders(120, 10, (placed) => {
      if (placed !== 40) return;
      restarted = (async () => {
        await rabbitmqctl("stop_app");
        await rabbitmqctl("start_app");
        await waitFor(() => rabbitMqAnswers(RABBITMQ_URL), { timeoutMs: 60_000, intervalMs: 200, what: "RabbitMQ to answer again" });
      })();
    });
    await restarted;
    await harness.healthy(60_000);
    await harness.waitUntilSettled(ids.length, 90_000);

    expect(new Set(ids).size).toBe(120);
    expect(await harness.log.countOfType("OrderCreated")).toBe(120);
    expect(await harness.log.terminalOrders()).toBe(120);
    expect(await harness.log.repeatedSagaSteps()).toEqual([]);
  }, 180_000);
});

import { randomUUID } from "node:crypto";
import { Errors, ServiceBroker } from "moleculer";
import { loadConfig } from "../../config";
import { brokerOptions } from "../../moleculer.config";
import { resilienceService } from "../../services/resilience.service";
import { gatherResilience } from "../../services/resilience/report";
import { RABBITMQ_URL, deleteRabbitMqObjects } from "../support/rabbitmq";
import { waitFor } from "../../tools/wait-for";

/** Two nodes over RabbitMQ, one of them too slow to answer: the report keeps the other. */
describe("the cluster's resilience report", () => {
  const namespace = `test-${randomUUID()}`;
  const config = loadConfig({ TRANSPORTER: RABBITMQ_URL, BUS_NAMESPACE: namespace, METRICS_PORT: "0" });
  let healthy: ServiceBroker;
  let stuck: ServiceBroker;
  let release: () => void = () => undefined;
  const servedBy: string[] = [];

  beforeAll(async () => {
    healthy = new ServiceBroker({ ...brokerOptions(config), nodeID: `healthy-${namespace}`, logger: false });
    healthy.createService(resilienceService());
    healthy.createService({ name: "who", actions: { am: () => void servedBy.push("healthy") } });
    stuck = new ServiceBroker({ ...brokerOptions(config), nodeID: `stuck-${namespace}`, logger: false });
    // A node whose report never comes in time (its event loop busy, or the node dying).
    stuck.createService({ name: "resilience", actions: { report: () => new Promise<void>((resolve) => (release = resolve)) } });
    stuck.createService({
      name: "who",
      actions: {
        am: () => {
          servedBy.push("stuck");
          throw new Errors.MoleculerRetryableError("failing on purpose", 503);
        },
      },
    });
    await Promise.all([healthy.start(), stuck.start()]);
    await waitFor(() => healthy.registry.nodes.get(stuck.nodeID)?.available === true && healthy.registry.getActionEndpoints("who.am")?.count() === 2, {
      what: "the slow node and its actions to be known",
    });
  });
  afterAll(async () => {
    release();
    await Promise.all([healthy?.stop(), stuck?.stop()]);
    await deleteRabbitMqObjects(RABBITMQ_URL, `MOL-${namespace}`);
  });

  it("reports the nodes that answered and names the one that did not, instead of failing whole", async () => {
    const report = await gatherResilience(healthy);

    expect(report.nodes).toEqual([healthy.nodeID]);
    expect(report.unanswered).toEqual([{ nodeID: stuck.nodeID, error: expect.stringContaining("timed out") }]);
  });

  it("retries a call directed at one node on that node only: another node's answer never passes for it", async () => {
    servedBy.length = 0;
    await expect(healthy.call("who.am", {}, { nodeID: stuck.nodeID, retries: 2 })).rejects.toThrow("failing on purpose");

    expect(servedBy).toEqual(["stuck", "stuck", "stuck"]);
  });
});

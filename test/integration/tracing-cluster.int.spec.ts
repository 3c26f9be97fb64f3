import { CLUSTER_NODES } from "../../tools/cluster/nodes";
import { clusterPerTest } from "../support/cluster-harness";
import { newSpanId, newTraceId } from "../../tracing/trace-context";
import { ORDER_TRACE, orderTrace, parentLines, placeOrder } from "../support/traces";

describe("tracing across the local cluster: one process per service over RabbitMQ", () => {
  const clusters = clusterPerTest();

  it("makes one order one trace across the nodes: the context travels in Moleculer's packets, the events' metadata and the AMQP headers", async () => {
    const harness = await clusters.start("cluster-trace");
    const traceId = newTraceId();

    const placed = await placeOrder(harness.baseUrl, { traceparent: `00-${traceId}-${newSpanId()}-01` });
    const spans = await orderTrace(harness.baseUrl, traceId, 30_000);

    expect(placed.status).toBe(201);
    expect(parentLines(spans)).toEqual(ORDER_TRACE);
    // Each span comes from the node that runs its service, and reached the gateway's collector over the transporter.
    const misplaced = spans.filter((span) => !CLUSTER_NODES.some((node) => node.name === span.nodeId && node.services.some((name) => name === span.service)));
    expect(misplaced.map((span) => `${span.name} on ${span.nodeId}`)).toEqual([]);
    expect(new Set(spans.map((span) => span.nodeId)).size).toBeGreaterThanOrEqual(5);
    const consume = spans.find((span) => span.name === "consume OrderCreated")!;
    expect(consume.attributes["messaging.system"]).toBe("rabbitmq");
    expect(consume.nodeId).toMatch(/^orchestrator-[12]$/);
  });
});

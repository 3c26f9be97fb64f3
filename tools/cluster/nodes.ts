import { ServiceName } from "../../services";

/** One process of the local cluster and the services it runs. */
export interface ClusterNode {
  name: string;
  services: ServiceName[];
  /** Variables of this node alone, over the cluster's: an orchestrator on another SAGA_DEFINITION during a rolling upgrade. */
  env?: Record<string, string>;
}

/**
 * One node per service, two orchestrators sharing their queue and two relays, of which one
 * publishes while the other stands by (the store's lease): what docker-compose.yml runs too.
 */
export const CLUSTER_NODES: readonly ClusterNode[] = [
  { name: "api", services: ["api"] },
  { name: "orders", services: ["orders"] },
  { name: "relay", services: ["relay"] },
  { name: "relay-2", services: ["relay"] },
  { name: "orchestrator-1", services: ["orchestrator"] },
  { name: "orchestrator-2", services: ["orchestrator"] },
  { name: "antifraud", services: ["antifraud"] },
  { name: "payments", services: ["payments"] },
  { name: "dlq", services: ["dlq"] },
];

export const DEFAULT_RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672";
export const FIRST_METRICS_PORT = 9100;

/**
 * The environment of one node: the caller's, with the node's services and id, RabbitMQ as
 * both the transporter and the bus, and the one event store every node shares.
 */
export function nodeEnvironment(node: ClusterNode, base: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const rabbitmq = base.AMQP_URL || DEFAULT_RABBITMQ_URL;
  return {
    ...base,
    ...node.env,
    // Nodes of one host need a metrics port each: 9100, 9101... in CLUSTER_NODES order.
    METRICS_PORT: base.METRICS_PORT || String(FIRST_METRICS_PORT + CLUSTER_NODES.indexOf(node)),
    SERVICES: node.services.join(","),
    NODE_ID: node.name,
    TRANSPORTER: base.TRANSPORTER || rabbitmq,
    AMQP_URL: rabbitmq,
    EVENT_STORE_URL: base.EVENT_STORE_URL || "sqlite:./data/cluster-events.db",
  };
}

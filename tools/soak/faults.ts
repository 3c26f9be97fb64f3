/** The faults the soak injects in its first round: each a kill or a restart, and the recovery. */
import { waitFor } from "../wait-for";
import { LeaseHolders } from "../cluster/lease-holders";
import { LocalCluster, RunningNode } from "../cluster/local-cluster";
import { CLUSTER_NODES } from "../cluster/nodes";
import { rabbitMqAnswers, rabbitmqctl } from "../cluster/rabbitmq-control";

/** How long a relay may take to hold the lease: at start, or after the leader's kill (LEASE_TTL_MS is 2 s). */
const RELAY_LEASE_TIMEOUT_MS = 15_000;
const RELAY_LEASE = "relay";

/** The relay leader's kill -9, and which relay took over. */
export interface RelayFailover {
  killed: string;
  successor: string;
  /** From the kill to the lease seen held by the successor. */
  takeoverMs: number;
}

export async function killAndRestartOrchestrator(cluster: LocalCluster, log: (line: string) => void): Promise<void> {
  log("kill -9 orchestrator-1");
  await cluster.kill("orchestrator-1");
  await new Promise((resolve) => setTimeout(resolve, 1000));
  cluster.start(CLUSTER_NODES.find((node) => node.name === "orchestrator-1")!);
  log("orchestrator-1 started again");
}

/**
 * kill -9 of the relay that holds the lease (PostgreSQL: the session of its advisory lock;
 * SQLite: its lease row), then the wait for the other one to take it, and the killed one
 * started again, as a standby.
 */
export async function killRelayLeader(cluster: LocalCluster, leaseHolders: LeaseHolders, log: (line: string) => void): Promise<RelayFailover> {
  const relayHolding = async (except?: string): Promise<RunningNode | undefined> => {
    const pid = await leaseHolders.holderPid(RELAY_LEASE);
    return [...cluster.running.values()].find(
      ({ node, process: child }) =>
        node.name !== except && node.services.includes("relay") && child.pid === pid && child.exitCode === null && child.signalCode === null,
    );
  };
  const leader = await waitFor(() => relayHolding(), { timeoutMs: RELAY_LEASE_TIMEOUT_MS, intervalMs: 100, what: "a relay to hold the lease" });
  log(`relay leader: ${leader.node.name} (pid ${leader.process.pid}); kill -9 ${leader.node.name}`);
  const killedAt = performance.now();
  await cluster.kill(leader.node.name);
  const successor = await waitFor(() => relayHolding(leader.node.name), {
    timeoutMs: RELAY_LEASE_TIMEOUT_MS,
    intervalMs: 50,
    what: `another relay to take the lease of ${leader.node.name}`,
  });
  const takeoverMs = Math.round(performance.now() - killedAt);
  log(`${successor.node.name} (pid ${successor.process.pid}) leads, ${takeoverMs} ms after the kill`);
  cluster.start(leader.node);
  log(`${leader.node.name} started again, as a standby`);
  return { killed: leader.node.name, successor: successor.node.name, takeoverMs };
}

export async function restartRabbitMq(url: string, log: (line: string) => void): Promise<void> {
  log("rabbitmqctl stop_app");
  await rabbitmqctl("stop_app");
  await rabbitmqctl("start_app");
  await waitFor(() => rabbitMqAnswers(url), { timeoutMs: 60_000, intervalMs: 200, what: "RabbitMQ to answer again" });
  log("RabbitMQ answers again");
}

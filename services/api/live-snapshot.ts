import { Clock } from "../../adapters/clock";
import { ChaosReading, ChaosTarget, readChaos } from "../../mixins/chaos.mixin";
import { Redelivery } from "../orchestrator.service";
import { ActionCaller, ClusterResilience, gatherResilience } from "../resilience/report";

export interface LiveSnapshot {
  at: string;
  orders: Record<string, number> | null;
  resilience: ClusterResilience | null;
  deadLetters: unknown[] | null;
  chaos: { service: ChaosTarget; reading: ChaosReading }[];
  /** The latest redeliveries of every orchestrator, newest first. */
  redeliveries: Redelivery[];
  /** Sagas running for longer than STUCK_AFTER: waiting on a step, or past their deadline. */
  stuckSagas: unknown[] | null;
  /** Dead letters grouped by cause, biggest first. */
  deadLetterGroups: unknown[] | null;
  /** The latest replay and purge jobs, running ones with their progress. */
  replayJobs: unknown[] | null;
}

/** How long a saga runs before the dashboard lists it as stuck: a healthy one ends in well under a second. */
const STUCK_AFTER = "5s";
/** The dashboard shows the first rows of each list; the routes page through all of them. */
const SHOWN = 20;

interface NodeWithServices {
  id: string;
  services?: { name: string }[];
}

const whenUp = <T>(promise: Promise<T>): Promise<T | null> => promise.catch(() => null);

/** What the dashboard shows, read from the cluster once: each part null when its service is down. */
export async function liveSnapshot(caller: ActionCaller, clock: Clock): Promise<LiveSnapshot> {
  const [orders, resilience, deadLetters, chaos, stuckSagas, deadLetterGroups, replayJobs] = await Promise.all([
    whenUp(caller.call<Record<string, number>, object>("orders.stats", {})),
    whenUp(gatherResilience(caller)),
    whenUp(caller.call<{ items: unknown[] }, object>("dlq.list", { status: "dead", limit: 50 })),
    readChaos(caller),
    whenUp(caller.call<{ items: unknown[] }, object>("orchestrator.list", { status: "running", olderThan: STUCK_AFTER, limit: SHOWN })),
    whenUp(caller.call<{ items: unknown[] }, object>("dlq.groups", {})),
    whenUp(caller.call<{ items: unknown[] }, object>("dlq.jobs", { limit: 5 })),
  ]);
  // Each orchestrator keeps its own: asked on every node that runs one.
  const nodes = await whenUp(caller.call<NodeWithServices[], object>("$node.list", { onlyAvailable: true, withServices: true }));
  const orchestrators = (nodes ?? []).filter((node) => node.services?.some((service) => service.name === "orchestrator"));
  const perNode = await Promise.all(
    orchestrators.map((node) =>
      caller.call<Redelivery[], object>("orchestrator.redeliveries", {}, { nodeID: node.id, retries: 0 }).catch((): Redelivery[] => []),
    ),
  );
  const redeliveries = perNode
    .flat()
    .sort((a, b) => b.at.localeCompare(a.at))
    .slice(0, 50);
  return {
    at: clock.now().toISOString(),
    orders,
    resilience,
    deadLetters: deadLetters?.items ?? null,
    chaos,
    redeliveries,
    stuckSagas: stuckSagas?.items ?? null,
    deadLetterGroups: deadLetterGroups?.items.slice(0, SHOWN) ?? null,
    replayJobs: replayJobs?.items ?? null,
  };
}

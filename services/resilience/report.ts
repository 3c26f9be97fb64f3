import { CallingOptions } from "moleculer";
import { BulkheadReport, ResilienceReport } from "../resilience.service";
import { BreakerReport } from "./breakers";

/** What calls actions: a Context inside an action, the broker itself in the REPL. */
export interface ActionCaller {
  call<T, P>(action: string, params: P, opts?: CallingOptions): Promise<T>;
}

/** The breakers and bulkheads of every node, and the depth of the dead-letter queue. */
export interface ClusterResilience {
  /** The nodes that answered. */
  nodes: string[];
  /** The nodes that did not answer in time, and why: their breakers and bulkheads are not in this report. */
  unanswered: { nodeID: string; error: string }[];
  /** `caller` is the node whose breaker it is: breakers live on the calling side. */
  breakers: ({ caller: string } & BreakerReport)[];
  bulkheads: ({ nodeID: string } & BulkheadReport)[];
  dlq: { depth: number } | { depth: null; error: string };
}

const REPORT_TIMEOUT_MS = 2000;

/**
 * Asks each available node for its report: every node runs the resilience service
 * (services/index.ts: companionServices), and its breakers are only known there.
 */
export async function gatherResilience(caller: ActionCaller): Promise<ClusterResilience> {
  const nodes = await caller.call<{ id: string }[], object>("$node.list", { onlyAvailable: true });
  // One slow or dying node must not take the whole report away (the dashboard's panel, GET /api/resilience).
  const answers = await Promise.all(
    nodes.map((node) =>
      caller.call<ResilienceReport, object>("resilience.report", {}, { nodeID: node.id, timeout: REPORT_TIMEOUT_MS, retries: 0 }).then(
        (report) => ({ report }),
        (error: Error) => ({ unanswered: { nodeID: node.id, error: error.message } }),
      ),
    ),
  );
  const reports = answers.flatMap((answer) => ("report" in answer ? [answer.report] : []));
  const dlq = await caller
    .call<{ depth: number }, object>("dlq.depth", {}, { timeout: REPORT_TIMEOUT_MS })
    .catch((error: Error) => ({ depth: null, error: error.message }));
  return {
    nodes: reports.map((report) => report.nodeID),
    unanswered: answers.flatMap((answer) => ("unanswered" in answer ? [answer.unanswered] : [])),
    breakers: reports.flatMap((report) => report.breakers.map((breaker) => ({ caller: report.nodeID, ...breaker }))),
    bulkheads: reports.flatMap((report) => report.bulkheads.map((bulkhead) => ({ nodeID: report.nodeID, ...bulkhead }))),
    dlq,
  };
}

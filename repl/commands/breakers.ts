import { gatherResilience } from "../../services/resilience/report";
import { ReplCommand, UsageError, parseWords } from "../command";

/** The circuit breakers and bulkheads of every node, and the DLQ depth (GET /api/resilience). */
export const breakersCommand: ReplCommand = {
  name: "breakers",
  summary: "circuit breakers and bulkheads of every node, and the DLQ depth",
  usage: ["breakers"],
  async run({ broker, out }, args) {
    if (parseWords(args, {}).positionals.length > 0) throw new UsageError("breakers takes no argument");
    const { breakers, bulkheads, dlq, unanswered } = await gatherResilience(broker);
    out.line("circuit breakers (kept by the calling node):");
    out.table(
      ["caller node", "target node", "action", "state", "count", "failures"],
      [...breakers]
        .sort((a, b) => a.endpoint.action.localeCompare(b.endpoint.action))
        .map(({ caller, endpoint, state, count, failures }) => [caller, endpoint.nodeID, endpoint.action, state, count, failures]),
      "no breaker yet: no call has gone through one",
    );
    out.line("bulkheads (kept by the called node):");
    out.table(
      ["node", "action", "in flight", "queued"],
      [...bulkheads].sort((a, b) => a.action.localeCompare(b.action)).map((bulkhead) => [bulkhead.nodeID, bulkhead.action, bulkhead.inFlight, bulkhead.queued]),
    );
    for (const { nodeID, error } of unanswered) out.note(`node ${nodeID} did not answer (${error}): its breakers and bulkheads are not above`);
    out.line(dlq.depth === null ? `DLQ depth: unknown (${dlq.error})` : `DLQ depth: ${dlq.depth} dead letter${dlq.depth === 1 ? "" : "s"}`);
  },
};

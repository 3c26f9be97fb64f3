import { createHash } from "node:crypto";
import type { ViewDefinition } from "./port";
import * as deadLetterDecider from "../../domain/dead-letter";
import { DeadLetterEntry, DeadLetterEvent, DeadMessage } from "../../domain/dead-letter";
import { fingerprintOf } from "../../domain/dead-letter-group";

/** Characters of a group id: 48 bits, enough to keep the causes of one DLQ apart, short enough to type. */
const GROUP_ID_LENGTH = 12;

/** The group of a dead letter: a short digest of its fingerprint (domain/dead-letter-group.ts), the same on every node. */
export function groupOf(message: Pick<DeadMessage, "error" | "originQueue" | "topic">): string {
  const { errorType, message: normalised, originQueue, eventType } = fingerprintOf(message);
  return createHash("sha256").update([errorType, normalised, originQueue, eventType].join("\n")).digest("hex").slice(0, GROUP_ID_LENGTH);
}

/**
 * The DLQ list (GET /api/dlq, its groups, the DLQ depth): one row per entry, filtered by
 * status, origin queue, event type and group.
 *
 * Named `dead_letters_v2` since the group column came: the adapters create a view's table when
 * it is missing and never change one that exists, so a database with the table of before
 * gets a new one, folded from the log, instead of writes to a column it lacks.
 */
export const DEAD_LETTERS_VIEW: ViewDefinition<DeadLetterEntry> = {
  name: "dead_letters_v2",
  streamPrefix: "deadletter",
  initialState: deadLetterDecider.initialState,
  evolve: (entry, event) => deadLetterDecider.evolve(entry, event as DeadLetterEvent),
  exists: (entry) => entry.status !== "none",
  columns: ["status", "origin_queue", "event_type", "group_id"],
  columnsOf: (entry) =>
    entry.status === "none"
      ? { status: null, origin_queue: null, event_type: null, group_id: null }
      : { status: entry.status, origin_queue: entry.message.originQueue, event_type: entry.message.topic, group_id: groupOf(entry.message) },
  countedBy: "status",
};

import type { ViewDefinition } from "./port";
import * as deadLetterDecider from "../../domain/dead-letter";
import { DeadLetterEntry, DeadLetterEvent } from "../../domain/dead-letter";

/** The DLQ list (GET /api/dlq, the DLQ depth): one row per entry, filtered by status, origin queue and event type. */
export const DEAD_LETTERS_VIEW: ViewDefinition<DeadLetterEntry> = {
  name: "dead_letters",
  streamPrefix: "deadletter",
  initialState: deadLetterDecider.initialState,
  evolve: (entry, event) => deadLetterDecider.evolve(entry, event as DeadLetterEvent),
  exists: (entry) => entry.status !== "none",
  columns: ["status", "origin_queue", "event_type"],
  columnsOf: (entry) =>
    entry.status === "none"
      ? { status: null, origin_queue: null, event_type: null }
      : { status: entry.status, origin_queue: entry.message.originQueue, event_type: entry.message.topic },
  countedBy: "status",
};

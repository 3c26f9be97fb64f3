import type { DeadLetterEntry } from "../../domain/dead-letter";
import { fingerprintOf } from "../../domain/dead-letter-group";
import { groupOf } from "../../adapters/read-model/dead-letters-view";

type Entry = Exclude<DeadLetterEntry, { status: "none" }>;

/** One cause of dead letters (GET /api/dlq/groups): what failed, where, how often, since and until when. */
export interface DeadLetterGroup {
  group: string;
  errorType: string;
  message: string;
  originQueue: string;
  eventType: string;
  count: number;
  /** The earliest first failure of its entries. */
  firstSeen: string;
  /** The latest last failure of its entries. */
  lastSeen: string;
}

/** The groups of these entries, biggest first (then the most recent first). */
export function groupsOf(entries: readonly Entry[]): DeadLetterGroup[] {
  const groups = new Map<string, DeadLetterGroup>();
  for (const { message } of entries) {
    const group = groupOf(message);
    const known = groups.get(group);
    if (known) {
      known.count += 1;
      if (message.firstFailureAt < known.firstSeen) known.firstSeen = message.firstFailureAt;
      if (message.lastFailureAt > known.lastSeen) known.lastSeen = message.lastFailureAt;
    } else {
      groups.set(group, { group, ...fingerprintOf(message), count: 1, firstSeen: message.firstFailureAt, lastSeen: message.lastFailureAt });
    }
  }
  return [...groups.values()].sort((a, b) => b.count - a.count || b.lastSeen.localeCompare(a.lastSeen));
}

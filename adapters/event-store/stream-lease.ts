import { randomUUID } from "node:crypto";
import { KeptLease } from "./lease";
import { EventData, EventStore, Lease, NO_STREAM, RecordedEvent, StreamNotFound, WrongExpectedRevision } from "./port";

/** The stream of a lease; $-prefixed, so the global log leaves it out. */
export function leaseStreamOf(name: string): string {
  return `$lease-${name}`;
}

/**
 * A lease kept as events of a system stream, for a store that has no lock but has optimistic
 * concurrency (EventStoreDB): each event names the holder and its expiry (ms since the epoch);
 * a holder takes or renews the lease by appending at the revision it read, so of two that race
 * one wins and the other gets WrongExpectedRevision. The expiry is compared across hosts: their
 * clocks must agree to well within the TTL. Each renewal is an event (4 per TTL).
 */
export async function tryAcquireStreamLease(store: Pick<EventStore, "append" | "read">, name: string, ttlMs: number): Promise<Lease | undefined> {
  const stream = leaseStreamOf(name);
  const holder = randomUUID();
  const last = await lastEventOf(store, stream);
  if (last && last.data.holder !== null && Number(last.data.expiresAt) > Date.now()) return undefined;
  const heldSince = performance.now();
  let revision: number;
  try {
    ({ nextExpectedRevision: revision } = await store.append(stream, [leaseEvent(holder, Date.now() + ttlMs)], {
      expectedRevision: last ? last.revision : NO_STREAM,
    }));
  } catch (error) {
    if (error instanceof WrongExpectedRevision) return undefined;
    throw error;
  }
  return new KeptLease(
    ttlMs,
    {
      async renew() {
        try {
          ({ nextExpectedRevision: revision } = await store.append(stream, [leaseEvent(holder, Date.now() + ttlMs)], {
            expectedRevision: revision,
          }));
          return true;
        } catch (error) {
          if (error instanceof WrongExpectedRevision) return false;
          throw error;
        }
      },
      async relinquish() {
        // Refused when another holder wrote since: then it is theirs already.
        await store.append(stream, [leaseEvent(null, 0)], { expectedRevision: revision }).catch(() => undefined);
      },
    },
    heldSince,
  );
}

async function lastEventOf(store: Pick<EventStore, "read">, stream: string): Promise<RecordedEvent | undefined> {
  try {
    const [last] = await store.read(stream, { direction: "backwards", maxCount: 1 });
    return last;
  } catch (error) {
    if (error instanceof StreamNotFound) return undefined;
    throw error;
  }
}

function leaseEvent(holder: string | null, expiresAt: number): EventData {
  const id = randomUUID();
  return {
    id,
    type: "$Lease",
    data: { holder, expiresAt },
    metadata: { correlationId: id, causationId: id, occurredAt: new Date().toISOString() },
  };
}

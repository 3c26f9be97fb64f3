import { randomUUID } from "node:crypto";
import { NO_STREAM } from "../../adapters/event-store";
import { Checkpoints } from "../../adapters/event-store/checkpoints";
import { SqliteEventStore } from "../../adapters/event-store/sqlite";
import { SqliteReadModelStore } from "../../adapters/read-model/sqlite";
import { DEAD_LETTERS_VIEW } from "../../adapters/read-model/dead-letters-view";
import { ORDERS_VIEW } from "../../adapters/read-model/orders-view";
import { Projection } from "../../adapters/read-model/projection";
import { metadata } from "./events";

/** Appends asked for at once: the SQLite store writes them in one transaction (group commit). */
const CHUNK = 1000;
const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };

/**
 * `count` confirmed orders written straight into the SQLite file at `path` (an OrderCreated and
 * an OrderConfirmed each, as the saga leaves them), the app's read models brought up to date
 * by their own projections, and the relay's checkpoint at the end of the log (what a running
 * app leaves behind): a store with history, as `npm start` would find it after a while.
 */
export async function seedOrders(path: string, count: number): Promise<void> {
  const store = new SqliteEventStore(path);
  try {
    let last = 0n;
    for (let start = 0; start < count; start += CHUNK) {
      const results = await Promise.all(
        Array.from({ length: Math.min(CHUNK, count - start) }, (_, offset) => {
          const index = start + offset;
          const id = randomUUID();
          const at = new Date(Date.UTC(2026, 0, 1) + index * 1000).toISOString();
          const created = {
            orderId: id,
            customerId: `c-${index % 500}`,
            currency: "EUR",
            items: [{ productId: `p-${index % 50}`, quantity: 1 + (index % 3), unitPrice: 1999 }],
            total: 1999 * (1 + (index % 3)),
            createdAt: at,
          };
          return store.append(
            `order-${id}`,
            [
              { id: randomUUID(), type: "OrderCreated", data: created, metadata: metadata({ occurredAt: at }) },
              { id: randomUUID(), type: "OrderConfirmed", data: { orderId: id, confirmedAt: at }, metadata: metadata({ occurredAt: at }) },
            ],
            { expectedRevision: NO_STREAM },
          );
        }),
      );
      for (const { position } of results) if (position > last) last = position;
    }
    const readModels = new SqliteReadModelStore(path);
    try {
      // Opening a projection catches it up from its checkpoint.
      await (await Projection.open("orders", store, readModels, ORDERS_VIEW, { followMs: 60_000, logger: silent })).stop();
      await (await Projection.open("dead-letters", store, readModels, DEAD_LETTERS_VIEW, { followMs: 60_000, logger: silent })).stop();
    } finally {
      await readModels.close();
    }
    await new Checkpoints(store).save("relay", last);
  } finally {
    await store.close();
  }
}

import { randomUUID } from "node:crypto";
import { NO_STREAM } from "../../adapters/event-store";
import { Projector } from "../../adapters/read-model/projector";
import { ORDERS_VIEW } from "../../adapters/read-model/orders-view";
import { metadata } from "../support/events";
import { OpenReadModel, readModelFixtures } from "../support/read-models";

const hiding = readModelFixtures.filter((fixture) => fixture.name === "postgres");

/**
 * A query run after a write of its own process sees it (catchUp), even where the log shows an
 * event only once every older transaction has ended (PostgreSQL: positions follow transaction ids).
 */
describe.each(hiding)("projector on $name: an event hidden behind an older transaction", (fixture) => {
  let opened: OpenReadModel;
  beforeEach(async () => {
    opened = await fixture.open();
  });
  afterEach(() => opened.dispose());

  it("catchUp waits for the event this process appended and signalled until the log shows it, then folds it", async () => {
    const view = await opened.store.view(ORDERS_VIEW);
    const projector = new Projector(opened.log, view);
    await projector.start();
    projector.follow(60_000, () => undefined);
    try {
      const endOlder = await opened.holdOlderTransaction!();
      const id = randomUUID();
      const data = {
        orderId: id,
        customerId: "c-1",
        currency: "EUR",
        items: [{ productId: "p", quantity: 1, unitPrice: 5 }],
        total: 5,
        createdAt: new Date().toISOString(),
      };
      await opened.log.append(`order-${id}`, [{ id: randomUUID(), type: "OrderCreated", data, metadata: metadata() }], { expectedRevision: NO_STREAM });
      // Hidden now: the older transaction is still open.
      expect(await opened.log.readAll({ maxCount: 10 })).toEqual([]);

      const caughtUp = projector.catchUp();
      setTimeout(() => void endOlder(), 50);
      await caughtUp;

      const { rows } = await view.list({ filter: {}, limit: 10 });
      expect(rows.map((row) => row.state)).toEqual([expect.objectContaining({ id, status: "pending" })]);
    } finally {
      await projector.stop();
    }
  });
});

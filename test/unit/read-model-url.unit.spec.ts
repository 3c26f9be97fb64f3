import { readModelUrlFor } from "../../adapters/read-model";
import { ordersService } from "../../services/orders.service";

describe("where read models live (READ_MODEL_URL, else EVENT_STORE_URL)", () => {
  it.each([
    ["memory:abc", undefined, "memory:abc"],
    ["memory:abc", "memory:", "memory:"],
    ["sqlite:./data/events.db", undefined, "sqlite:./data/events.db"],
    ["sqlite:./data/events.db", "sqlite:./data/read-models.db", "sqlite:./data/read-models.db"],
    ["postgres://db/app", undefined, "postgres://db/app"],
    ["postgresql://db/app", "postgres://other/rm", "postgres://other/rm"],
    ["kurrentdb://esdb:2113?tls=false", "sqlite:./data/read-models.db", "sqlite:./data/read-models.db"],
    ["esdb://esdb:2113?tls=false", "postgres://db/rm", "postgres://db/rm"],
  ])("EVENT_STORE_URL=%s READ_MODEL_URL=%s → %s", (eventStoreUrl, readModelUrl, expected) => {
    expect(readModelUrlFor(eventStoreUrl, readModelUrl)).toBe(expected);
  });

  it.each(["kurrentdb://esdb:2113?tls=false", "esdb+discover://a,b,c"])("is required with %s, and a node that lacks it does not start", (eventStoreUrl) => {
    expect(() => readModelUrlFor(eventStoreUrl)).toThrow(/^READ_MODEL_URL is required with EVENT_STORE_URL=(kurrentdb|esdb\+discover):\/\/\.\.\./);
    expect(() => ordersService({ eventStoreUrl })).toThrow(/READ_MODEL_URL is required/);
  });

  it("refuses a database beside a memory log (which starts empty at each start), and what is not a database", () => {
    expect(() => readModelUrlFor("memory:", "sqlite:./rm.db")).toThrow(/READ_MODEL_URL=sqlite:\.\.\. with EVENT_STORE_URL=memory:/);
    expect(() => readModelUrlFor("kurrentdb://esdb:2113", "mysql://secret@db")).toThrow(/^READ_MODEL_URL=mysql:\/\/\.\.\.: expected sqlite:<path> or postgres/);
  });
});

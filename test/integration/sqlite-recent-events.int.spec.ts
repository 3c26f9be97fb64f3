import Database from "better-sqlite3";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ANY, NO_STREAM, RecordedEvent } from "../../adapters/event-store";
import { SqliteEventStore } from "../../adapters/event-store/sqlite";
import { anEvent, uniqueStream } from "../support/events";

/** What the file holds, read without the adapter: the log every reader must be given. */
function logInFile(path: string): { position: number; id: string }[] {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare<[], { position: number; id: string }>("SELECT position, id FROM events WHERE stream NOT LIKE '$%' ORDER BY position").all();
  } finally {
    db.close();
  }
}

async function readWhole(store: SqliteEventStore, batch: number, from = 0n): Promise<RecordedEvent[]> {
  const log: RecordedEvent[] = [];
  let after = from;
  for (;;) {
    const page = await store.readAll({ after, maxCount: batch });
    log.push(...page);
    if (page.length < batch) return log;
    after = page[page.length - 1]!.position;
  }
}

/** The global log served from the events this process just committed, and from the file past them. */
describe("SQLite event store: the recently committed events", () => {
  let dir: string;
  let path: string;
  let first: SqliteEventStore;
  let second: SqliteEventStore;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "glitchbuster-recent-"));
    path = join(dir, "events.db");
    first = new SqliteEventStore(path);
    second = new SqliteEventStore(path);
  });
  afterEach(async () => {
    await first.close();
    await second.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("gives each store the whole log in order while two of them append to one file, from any position and in any batch", async () => {
    for (let round = 0; round < 30; round++) {
      // Groups of several appends, interleaved between the two connections, with system events among them.
      const writer = round % 3 === 0 ? second : first;
      await Promise.all([
        writer.append(uniqueStream("order"), [anEvent("A"), anEvent("B")], { expectedRevision: NO_STREAM }),
        writer.append(uniqueStream("saga"), [anEvent("C")], { expectedRevision: NO_STREAM }),
        writer.append("$checkpoint-test", [anEvent("$Checkpoint")], { expectedRevision: ANY }),
      ]);
    }
    const expected = logInFile(path);
    expect(expected).toHaveLength(90);
    for (const store of [first, second]) {
      for (const batch of [1, 7, 1000]) {
        const log = await readWhole(store, batch);
        expect(log.map((event) => ({ position: Number(event.position), id: event.id }))).toEqual(expected);
      }
      // From a position in the middle, and from one past the end.
      const middle = BigInt(expected[40]!.position);
      expect((await readWhole(store, 5, middle)).map((event) => event.id)).toEqual(expected.slice(41).map((event) => event.id));
      expect(await store.readAll({ after: BigInt(expected[89]!.position) + 10n })).toEqual([]);
    }
  });

  it("hands out events that share nothing with what the caller appended, and that no reader can change", async () => {
    const data = { items: [{ productId: "p", quantity: 1 }] };
    const stream = uniqueStream("order");
    await first.append(stream, [anEvent("OrderCreated", data)], { expectedRevision: NO_STREAM });
    data.items[0]!.quantity = 99;
    const [event] = (await first.readAll({ maxCount: 1000 })).filter((recorded) => recorded.stream === stream);
    expect(event!.data).toEqual({ items: [{ productId: "p", quantity: 1 }] });
    expect(() => {
      (event!.data.items as { quantity: number }[])[0]!.quantity = 5;
    }).toThrow(TypeError);
  });

  it("leaves nothing of a refused append of a group, and the rest of the group is committed and read", async () => {
    const taken = uniqueStream("order");
    await first.append(taken, [anEvent("OrderCreated")], { expectedRevision: NO_STREAM });
    const fresh = uniqueStream("order");
    const outcomes = await Promise.allSettled([
      first.append(taken, [anEvent("OrderCreated"), anEvent("OrderConfirmed")], { expectedRevision: NO_STREAM }),
      first.append(fresh, [anEvent("OrderCreated"), anEvent("OrderConfirmed")], { expectedRevision: NO_STREAM }),
      // Not JSON: refused before anything of it is written.
      first.append(uniqueStream("order"), [anEvent("OrderCreated"), anEvent("Bad", { n: 1n as unknown as number })], { expectedRevision: NO_STREAM }),
    ]);
    expect(outcomes.map((outcome) => outcome.status)).toEqual(["rejected", "fulfilled", "rejected"]);
    const log = await readWhole(first, 1000);
    expect(log.map((event) => [event.stream, event.type])).toEqual([
      [taken, "OrderCreated"],
      [fresh, "OrderCreated"],
      [fresh, "OrderConfirmed"],
    ]);
    expect(logInFile(path).map((row) => row.id)).toEqual(log.map((event) => event.id));
  });
});

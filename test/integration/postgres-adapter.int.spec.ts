import { setTimeout as sleep } from "node:timers/promises";
import { Client, Pool, QueryResultRow } from "pg";
import { NO_STREAM, RecordedEvent } from "../../adapters/event-store";
import { DuplicateEventId, PostgresEventStore } from "../../adapters/event-store/postgres";
import { MIGRATIONS, POSITION_SHIFT, applyMigrations } from "../../adapters/event-store/postgres-schema";
import { waitFor } from "../../tools/wait-for";
import { createTestDatabase, runsOnPostgres } from "../support/event-stores";
import { anEvent, uniqueStream } from "../support/events";

const describeOnPostgres = runsOnPostgres ? describe : describe.skip;

const APPENDERS = 8;
const APPENDS_PER_APPENDER = 40;
const HELD_STREAM_PREFIX = "held-";
const HELD_MS = 500;
/** An append whose first event has this type pauses before drawing the next event's position. */
const PAUSING_TYPE = "PausesTheAppend";
const PAUSE_MS = 300;
const FOLLOW_DEADLINE_MS = 5_000;
const FOLLOW_ALL_DEADLINE_MS = 15_000;

/**
 * Holds every append's transaction open after its rows (and so their positions) are written:
 * 0-30 ms at random, HELD_MS for a stream named held-*; and pauses an append after an event of
 * PAUSING_TYPE. Triggers, so that the adapter's own append runs unchanged.
 */
const HOLD_COMMITS = `
  CREATE FUNCTION pause_append() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    IF NEW.type = '${PAUSING_TYPE}' THEN PERFORM pg_sleep(${PAUSE_MS / 1000}); END IF;
    RETURN NEW;
  END $$;
  CREATE TRIGGER pause_append BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION pause_append();
  CREATE FUNCTION hold_commit() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    IF EXISTS (SELECT 1 FROM inserted WHERE stream_id LIKE '${HELD_STREAM_PREFIX}%') THEN
      PERFORM pg_sleep(${HELD_MS / 1000});
    ELSE
      PERFORM pg_sleep(random() * 0.03);
    END IF;
    RETURN NULL;
  END $$;
  CREATE TRIGGER hold_commit AFTER INSERT ON events REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION hold_commit();`;

async function sql(url: string, text: string, values: unknown[] = []): Promise<QueryResultRow[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(text, values)).rows;
  } finally {
    await client.end();
  }
}

/** Waits until `count` transactions of this database have written and sleep in a trigger. */
async function sleepingAppends(url: string, count: number): Promise<void> {
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    const sleeping = await sql(
      url,
      `SELECT 1 FROM pg_stat_activity
       WHERE datname = current_database() AND wait_event = 'PgSleep' AND backend_xid IS NOT NULL`,
    );
    if (sleeping.length >= count) return;
  }
  throw new Error(`${count} sleeping appends expected`);
}

/** Reads the global log to its current end; returns the last position read. */
async function drain(store: PostgresEventStore, after = 0n): Promise<bigint> {
  for (;;) {
    const page = await store.readAll({ after, maxCount: 1000 });
    if (page.length === 0) return after;
    after = page[page.length - 1]!.position;
  }
}

/**
 * Polls the global log as the relay does, from `after` on, until `count` events are read or
 * `deadlineMs` pass. It waits out an unrelated transaction of the server that holds the log
 * back for a moment; an event it has passed, it never reads.
 */
async function follow(store: PostgresEventStore, after: bigint, count: number, deadlineMs = FOLLOW_DEADLINE_MS) {
  const events: RecordedEvent[] = [];
  const deadline = Date.now() + deadlineMs;
  while (events.length < count && Date.now() < deadline) {
    const page = await store.readAll({ after, maxCount: 50 });
    events.push(...page);
    if (page.length > 0) after = page[page.length - 1]!.position;
    else await sleep(2);
  }
  return { events, after };
}

function lastPosition(events: readonly RecordedEvent[], otherwise: bigint): bigint {
  return events.length > 0 ? events[events.length - 1]!.position : otherwise;
}

describeOnPostgres("PostgresEventStore", () => {
  describe("global log under concurrent appends whose commits are held", () => {
    let database: { url: string; drop(): Promise<void> };
    let writer: PostgresEventStore;
    let reader: PostgresEventStore;

    beforeAll(async () => {
      database = await createTestDatabase();
      writer = new PostgresEventStore(database.url, { maxConnections: APPENDERS });
      reader = new PostgresEventStore(database.url, { maxConnections: 1 });
      await Promise.all([writer.ping(), reader.ping()]);
      await sql(database.url, HOLD_COMMITS);
    });
    afterAll(async () => {
      await Promise.all([writer?.close(), reader?.close()]);
      await database?.drop();
    });

    it("shows a reader that polls readAll every event once, in increasing position order", async () => {
      // Appender a's append i writes 1 + i % 3 events: several events of one append must stay
      // together in the log too.
      const eventsOf = (index: number) => 1 + (index % 3);
      const total = APPENDERS * Array.from({ length: APPENDS_PER_APPENDER }, (_, index) => eventsOf(index)).reduce((a, b) => a + b);
      const start = await drain(reader);
      const reading = follow(reader, start, total, FOLLOW_ALL_DEADLINE_MS);
      const appended = new Set<string>();

      await Promise.all(
        Array.from({ length: APPENDERS }, async (_, appender) => {
          const streams = [uniqueStream(`gap-${appender}`), uniqueStream(`gap-${appender}`)];
          const revisions = streams.map(() => -1);
          for (let index = 0; index < APPENDS_PER_APPENDER; index += 1) {
            const which = index % streams.length;
            const events = Array.from({ length: eventsOf(index) }, (_, n) => anEvent("Ticked", { appender, index, n }));
            const result = await writer.append(streams[which]!, events, {
              expectedRevision: revisions[which]! < 0 ? NO_STREAM : revisions[which]!,
            });
            revisions[which] = result.nextExpectedRevision;
            for (const event of events) appended.add(event.id);
          }
        }),
      );
      const { events: seen, after } = await reading;

      const ids = seen.map((event) => event.id);
      expect(ids.filter((id) => !appended.has(id))).toEqual([]);
      expect(new Set(ids).size).toBe(ids.length);
      expect(ids.length).toBe(total);
      expect(await reader.readAll({ after })).toEqual([]);
      seen.slice(1).forEach((event, index) => expect(event.position > seen[index]!.position).toBe(true));
    });

    it("does not let a reader pass an append whose transaction is still running", async () => {
      const lastSeen = await drain(reader);
      const [slow, quick] = [anEvent("Slow"), anEvent("Quick")];
      const held = writer.append(uniqueStream(HELD_STREAM_PREFIX), [slow], { expectedRevision: NO_STREAM });
      await sleepingAppends(database.url, 1);
      const quickResult = await writer.append(uniqueStream("quick"), [quick], { expectedRevision: NO_STREAM });

      const whileHeld = await reader.readAll({ after: lastSeen });
      const slowResult = await held;
      const rest = await follow(reader, lastPosition(whileHeld, lastSeen), 2 - whileHeld.length);

      expect([...whileHeld, ...rest.events].map((event) => event.id)).toEqual([slow.id, quick.id]);
      expect(whileHeld).toEqual([]);
      expect(slowResult.position < quickResult.position).toBe(true);
    });

    it("keeps an append's positions below those of a later one that drew its own in the middle of it", async () => {
      // With positions from a sequence the later append would draw the middle one, and the
      // first, committed before it, would lead a reader past it.
      const lastSeen = await drain(reader);
      const first = [anEvent(PAUSING_TYPE), anEvent("Second")];
      const later = anEvent("Later");
      const firstAppend = writer.append(uniqueStream("first"), first, { expectedRevision: NO_STREAM });
      await sleepingAppends(database.url, 1);
      const laterAppend = writer.append(uniqueStream(HELD_STREAM_PREFIX), [later], { expectedRevision: NO_STREAM });
      await sleepingAppends(database.url, 2);

      const firstResult = await firstAppend;
      const whileLaterHeld = await reader.readAll({ after: lastSeen });
      const laterResult = await laterAppend;
      const rest = await follow(reader, lastPosition(whileLaterHeld, lastSeen), 3 - whileLaterHeld.length);

      expect([...whileLaterHeld, ...rest.events].map((event) => event.id)).toEqual([...first.map((event) => event.id), later.id]);
      expect(firstResult.position < laterResult.position).toBe(true);
    });
  });

  describe("migrations", () => {
    let database: { url: string; drop(): Promise<void> };
    beforeEach(async () => {
      database = await createTestDatabase();
    });
    afterEach(() => database.drop());

    it("applied by two adapters opening the same fresh database at once leave one schema and no error", async () => {
      const [one, two] = [new PostgresEventStore(database.url), new PostgresEventStore(database.url)];
      try {
        await Promise.all([one.ping(), two.ping()]);

        const applied = await sql(database.url, "SELECT version, name FROM schema_migrations ORDER BY version");
        expect(applied).toEqual(MIGRATIONS.map(({ version, name }) => ({ version, name })));
        const tables = await sql(database.url, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name");
        expect(tables).toEqual([{ table_name: "events" }, { table_name: "schema_migrations" }]);
        const event = anEvent("Created");
        await one.append("shared", [event], { expectedRevision: NO_STREAM });
        expect((await two.read("shared")).map((read) => read.id)).toEqual([event.id]);
      } finally {
        await Promise.all([one.close(), two.close()]);
      }
    });

    it("are applied by exactly one of several concurrent starts, and by none later", async () => {
      const pools = Array.from({ length: 4 }, () => new Pool({ connectionString: database.url, max: 1 }));
      for (const pool of pools) pool.on("error", () => undefined);
      try {
        const first = await Promise.all(pools.map((pool) => applyMigrations(pool)));
        const again = await Promise.all(pools.map((pool) => applyMigrations(pool)));

        expect(first.filter((versions) => versions.length > 0)).toEqual([MIGRATIONS.map((migration) => migration.version)]);
        expect(again).toEqual(pools.map(() => []));
      } finally {
        await Promise.all(pools.map((pool) => pool.end()));
      }
    });

    it("refuse a database whose positions lie ahead of the server's transaction counter (restored from another cluster)", async () => {
      const setUp = new PostgresEventStore(database.url);
      await setUp.ping();
      await setUp.close();
      const future = 2n ** 40n;
      await sql(
        database.url,
        `INSERT INTO events (position, transaction_id, stream_id, revision, event_id, type, data, metadata)
         VALUES ($1, $2, 'restored', 0, gen_random_uuid(), 'Restored', '{}', '{}')`,
        [(future << BigInt(POSITION_SHIFT)).toString(), future.toString()],
      );

      const store = new PostgresEventStore(database.url);
      try {
        await expect(store.ping()).rejects.toThrow(/another cluster/);
      } finally {
        await store.close();
      }
    });
  });

  describe("between processes (two stores on one database)", () => {
    let database: { url: string; drop(): Promise<void> };
    let writer: PostgresEventStore;
    let reader: PostgresEventStore;
    const terminate = (applicationName: string) =>
      sql(database.url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE $1 || '%'", [
        applicationName,
      ]);

    beforeAll(async () => {
      database = await createTestDatabase();
      writer = new PostgresEventStore(database.url);
      reader = new PostgresEventStore(database.url);
      await Promise.all([writer.ping(), reader.ping()]);
    });
    afterAll(async () => {
      await Promise.all([writer?.close(), reader?.close()]);
      await database?.drop();
    });

    it("wakes a reader of another process by NOTIFY, with the position appended, within milliseconds", async () => {
      const heard: { position: bigint | undefined; at: number }[] = [];
      const unsubscribe = reader.onAppended((position) => heard.push({ position, at: performance.now() }));
      try {
        await sleep(100); // LISTEN is in place
        const latencies: number[] = [];
        for (let index = 0; index < 5; index += 1) {
          const started = performance.now();
          const { position } = await writer.append(uniqueStream("woken"), [anEvent("A")], { expectedRevision: NO_STREAM });
          const wake = await waitFor(() => heard.find((entry) => entry.position === position), { intervalMs: 1, timeoutMs: 2000 });
          latencies.push(wake.at - started);
        }
        expect(Math.max(...latencies)).toBeLessThan(100);
        const system = await writer.append(`$checkpoint-${uniqueStream("relay")}`, [anEvent("$Checkpoint")], { expectedRevision: NO_STREAM });
        await sleep(50);
        expect(heard.map((entry) => entry.position)).not.toContain(system.position);
      } finally {
        unsubscribe();
      }
    });

    it("listens again after its connection is cut, waking the reader once it is back", async () => {
      const heard: (bigint | undefined)[] = [];
      const unsubscribe = reader.onAppended((position) => heard.push(position));
      try {
        await sleep(100);
        await terminate("glitchbuster-appends");
        await waitFor(() => heard.includes(undefined), { timeoutMs: 3000, what: "the wake after reconnecting" });

        const { position } = await writer.append(uniqueStream("woken"), [anEvent("A")], { expectedRevision: NO_STREAM });

        await waitFor(() => heard.includes(position), { timeoutMs: 2000, what: "a later append's wake" });
      } finally {
        unsubscribe();
      }
    });

    it("frees a lease at once when its holder's session ends (killed), and the holder learns it lost it", async () => {
      const name = uniqueStream("relay").slice(0, 20);
      const held = await writer.tryAcquireLease(name, 10_000);
      expect(held).toBeDefined();
      await expect(reader.tryAcquireLease(name, 10_000)).resolves.toBeUndefined();

      const killed = performance.now();
      // The holder's session and the one the other process keeps for its next try.
      await terminate(`glitchbuster-lease-${name}@`);
      await waitFor(() => held!.lost.aborted, { intervalMs: 1, timeoutMs: 2000, what: "the holder to learn it" });
      const taken = await reader.tryAcquireLease(name, 10_000);

      expect(taken).toBeDefined();
      expect(performance.now() - killed).toBeLessThan(1000);
      expect((held!.lost.reason as Error).message).toMatch(/session ended/);
      await taken!.release();
    });
  });

  it("refuses an event id already written to another stream, which is neither a retry nor a conflict", async () => {
    const database = await createTestDatabase();
    const store = new PostgresEventStore(database.url);
    try {
      const event = anEvent("Created");
      await store.append(uniqueStream("one"), [event], { expectedRevision: NO_STREAM });
      const other = uniqueStream("other");

      await expect(store.append(other, [event], { expectedRevision: NO_STREAM })).rejects.toBeInstanceOf(DuplicateEventId);
      await expect(store.read(other)).rejects.toMatchObject({ name: "StreamNotFound" });
    } finally {
      await store.close();
      await database.drop();
    }
  });
});

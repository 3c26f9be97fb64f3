import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Errors } from "moleculer";
import { MessageBus } from "../../adapters/bus";
import { JsonObject, NO_STREAM, RecordedEvent, acquireEventStore, releaseEventStore } from "../../adapters/event-store";
import { waitFor } from "../../tools/wait-for";
import { acquireMessageBus, releaseMessageBus } from "../../adapters/bus";
import { busFixtures } from "../support/buses";
import { EmbeddedApp, startEmbeddedApp } from "../support/embedded-app";

const TOKEN = "dlq-replay-admin-token";
const QUEUE = "work";
const TOPIC = "OrderCreated";
const ENTRIES = 12;
/** What the loser of a race for an entry is told: it was claimed, replayed or purged first. */
const CONFLICT = expect.stringMatching(/^DEAD_LETTER_(CONFLICT|REPLAYING|REPLAYED|PURGED)$/);

/**
 * Concurrent operators on the DLQ (issue 11, item 7): two replay jobs, a replay job racing
 * replay-ones, replays racing purges, an edit before a replay (issue 15), a replay job whose
 * node stops halfway, and a cancelled one. Each entry is sent at most once, and exactly once
 * when a replay won it; counted on the bus itself (messages waiting in the origin queue, then
 * their ids and payloads), on the memory bus and on RabbitMQ.
 */
describe.each(busFixtures)("concurrent DLQ replays on the $name", (fixture) => {
  let app: EmbeddedApp;
  let bus: MessageBus;
  let env: Record<string, string>;
  let dir: string;

  beforeEach(async () => {
    // The store of `npm start`: its appends commit on the next turn of the event loop, so
    // requests interleave as they do in production (the memory store never lets them).
    dir = mkdtempSync(join(tmpdir(), "dlq-replay-"));
    // Jobs as fast as they go, unless a test paces them.
    env = { ...fixture.env(), ADMIN_TOKEN: TOKEN, EVENT_STORE_URL: `sqlite:${join(dir, "events.db")}`, DLQ_REPLAY_RATE: "0" };
    app = await startEmbeddedApp({ env, services: ["api", "dlq"] });
    bus = acquireMessageBus({ url: app.config.busUrl, namespace: app.config.busNamespace });
  });
  afterEach(async () => {
    await app.stop();
    await releaseMessageBus({ url: app.config.busUrl, namespace: app.config.busNamespace });
    await fixture.cleanUp(app.config.busNamespace, [QUEUE, "nowhere"]);
    rmSync(dir, { recursive: true, force: true });
  });

  async function http(method: string, path: string, body?: unknown) {
    const requestId = randomUUID();
    const headers: Record<string, string> = { Authorization: `Bearer ${TOKEN}`, "X-Request-ID": requestId };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(`${app.baseUrl}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : undefined, requestId };
  }

  /** Dead letters made the way production makes them: a consumer that fails its only attempt. */
  async function deadLetters(
    count: number,
    payloadOf: () => JsonObject = () => ({ data: { orderId: randomUUID() } }),
  ): Promise<{ id: string; messageId: string }[]> {
    const failing = await bus.consume(QUEUE, [TOPIC], async () => Promise.reject(new Error("chaos")), {
      prefetch: 20,
      retry: { attempts: 1, baseMs: 1, maxMs: 1 },
    });
    const messageIds: string[] = [];
    for (let index = 0; index < count; index += 1) {
      const messageId = randomUUID();
      messageIds.push(messageId);
      await bus.publish({ messageId, topic: TOPIC, payload: payloadOf(), headers: { correlationId: messageId } });
    }
    const listed = await waitFor(
      async () => {
        const page = await http("GET", `/dlq?status=dead&limit=100`);
        return page.body.items.length === count ? (page.body.items as { id: string }[]) : undefined;
      },
      { timeoutMs: 15_000, what: `${count} dead letters in the DLQ` },
    );
    // The origin queue stays; from now on it only gathers what the DLQ sends back.
    await failing.stop();
    expect(await bus.queueDepth(QUEUE)).toBe(0);
    return Promise.all(listed.map(async ({ id }) => ({ id, messageId: (await http("GET", `/dlq/${id}`)).body.message.messageId as string })));
  }

  /** Every message the DLQ sent back to the origin queue, taken off the queue. */
  async function deliveries(queue = QUEUE): Promise<{ messageId: string; payload: unknown }[]> {
    const waiting = await bus.queueDepth(queue);
    const received: { messageId: string; payload: unknown }[] = [];
    const taker = await bus.consume(queue, [], async ({ messageId, payload }) => void received.push({ messageId, payload }), {
      prefetch: 50,
      retry: { attempts: 1, baseMs: 1, maxMs: 1 },
    });
    await waitFor(() => received.length >= waiting, { what: `${waiting} messages taken off ${queue}` });
    await taker.stop();
    return received;
  }

  /** Their ids, sorted. */
  async function sentBack(queue = QUEUE): Promise<string[]> {
    return (await deliveries(queue)).map((delivery) => delivery.messageId).sort();
  }

  /** Starts a replay job (202, its Location) and follows it to its end. */
  async function replayJob(
    filter: object = {},
  ): Promise<{ id: string; status: string; total: number; replayed: number; skipped: number; failed: number; startedAt: string; endedAt: string }> {
    const started = await http("POST", "/dlq/replay", filter);
    expect(started).toMatchObject({ status: 202, body: { kind: "replay", status: "running" } });
    return followed(started.body.id as string);
  }

  async function followed(jobId: string) {
    return waitFor(
      async () => {
        const job = (await http("GET", `/dlq/jobs/${jobId}`)).body;
        return job.status === "running" ? undefined : job;
      },
      { timeoutMs: 20_000, what: `job ${jobId} to end` },
    );
  }

  async function streamOf(entryId: string): Promise<RecordedEvent[]> {
    return app.store.read(`deadletter-${entryId}`);
  }

  /** Correlation ids (the X-Request-ID of the request) of the events of a type in an entry's stream. */
  async function byWhom(entryId: string, type: "DeadLetterReplayClaimed" | "DeadLetterReplayed"): Promise<string[]> {
    return (await streamOf(entryId)).filter((event) => event.type === type).map((event) => String(event.metadata.correlationId));
  }

  const sorted = (values: string[]) => [...values].sort();

  it("two replay jobs at the same moment: their replayed counts add up to the entries, each message is sent once", async () => {
    const entries = await deadLetters(ENTRIES);

    const jobs = await Promise.all([replayJob(), replayJob()]);

    for (const job of jobs) expect(job).toMatchObject({ status: "done", failed: 0, total: job.replayed + job.skipped });
    expect(await bus.queueDepth(QUEUE)).toBe(ENTRIES);
    expect(jobs[0].replayed + jobs[1].replayed).toBe(ENTRIES);
    expect(await sentBack()).toEqual(sorted(entries.map((entry) => entry.messageId)));
    // An entry's events carry the id of the job that caused them as their correlation id.
    const replayers = await Promise.all(entries.map((entry) => byWhom(entry.id, "DeadLetterReplayed")));
    for (const job of jobs) {
      expect(job.replayed).toBe(replayers.filter((by) => by[0] === job.id).length);
    }
    for (const entry of entries) {
      expect(await byWhom(entry.id, "DeadLetterReplayClaimed")).toHaveLength(1);
      expect(await byWhom(entry.id, "DeadLetterReplayed")).toEqual(await byWhom(entry.id, "DeadLetterReplayClaimed"));
    }
    expect((await http("GET", "/dlq?status=replayed&limit=100")).body.items).toHaveLength(ENTRIES);
  });

  it("a replay job racing a replay-one of every entry: each entry is sent once, by the operation that claimed it", async () => {
    const entries = await deadLetters(ENTRIES);

    // The replay-ones go last entry first, to meet the job halfway.
    const [all, ...reversed] = await Promise.all([replayJob(), ...[...entries].reverse().map((entry) => http("POST", `/dlq/${entry.id}/replay`))]);
    const ones = reversed.reverse();

    expect(await bus.queueDepth(QUEUE)).toBe(ENTRIES);
    expect(all.status).toBe("done");
    const replayers = await Promise.all(entries.map((entry) => byWhom(entry.id, "DeadLetterReplayed")));
    const wonByOnes = ones.filter((one, index) => replayers[index]![0] === one.requestId).length;
    expect(all.replayed + wonByOnes).toBe(ENTRIES);
    expect(all.skipped).toBe(wonByOnes);
    expect(await sentBack()).toEqual(sorted(entries.map((entry) => entry.messageId)));
    for (const [index, entry] of entries.entries()) {
      expect(replayers[index]).toHaveLength(1);
      expect([all.id, ones[index]!.requestId]).toContain(replayers[index]![0]);
      expect(await byWhom(entry.id, "DeadLetterReplayClaimed")).toEqual(replayers[index]);
      const one = ones[index]!;
      // A replay-one that lost its entry answers 409 in the gateway's one error shape, or
      // (when the winner had already finished) the replayed entry it found.
      if (one.status === 200) expect(one.body).toMatchObject({ id: entries[index]!.id, status: "replayed", replays: 1 });
      else expect(one).toMatchObject({ status: 409, body: { type: CONFLICT, message: expect.any(String), code: 409 } });
    }
  });

  it("a replay job racing purges: each entry is either purged and never sent, or replayed and sent once", async () => {
    const entries = await deadLetters(ENTRIES);

    const [all, ...purges] = await Promise.all([replayJob(), ...entries.map((entry) => http("DELETE", `/dlq/${entry.id}`, { reason: "raced a replay" }))]);

    expect(all.status).toBe("done");
    const states = await Promise.all(entries.map(async (entry) => (await http("GET", `/dlq/${entry.id}`)).body.status as string));
    const replayed = entries.filter((_entry, index) => states[index] === "replayed");
    expect(await bus.queueDepth(QUEUE)).toBe(replayed.length);
    expect(all.replayed).toBe(replayed.length);
    expect(await sentBack()).toEqual(sorted(replayed.map((entry) => entry.messageId)));
    entries.forEach((entry, index) => {
      expect(["replayed", "purged"]).toContain(states[index]);
      const purge = purges[index]!;
      if (states[index] === "purged") expect(purge).toMatchObject({ status: 200, body: { id: entry.id, status: "purged" } });
      else expect(purge).toMatchObject({ status: 409, body: { type: CONFLICT, code: 409 } });
    });
  });

  type Outcome = Omit<Awaited<ReturnType<typeof http>>, "requestId">;
  /** Through the broker, as two gateways or a REPL would call: both calls start in the same turn of the event loop. */
  async function called(action: string, params: object): Promise<Outcome> {
    try {
      return { status: 200, body: await app.broker.call(action, params) };
    } catch (error) {
      if (!(error instanceof Errors.MoleculerError)) throw error;
      return { status: error.code, body: { type: error.type, message: error.message, code: error.code, data: error.data } };
    }
  }
  /** Each starts a replay and a purge of one entry at once, and gives back their answers in that order. */
  const racers: Record<string, (entry: { id: string }, index: number) => [Promise<Outcome>, Promise<Outcome>]> = {
    // Every other pair sends the purge first.
    "through the gateway": (entry, index) => {
      const replay = () => http("POST", `/dlq/${entry.id}/replay`);
      const purge = () => http("DELETE", `/dlq/${entry.id}`, { reason: "raced a replay" });
      if (index % 2 === 0) return [replay(), purge()];
      const purged = purge();
      return [replay(), purged];
    },
    "through the broker, in one turn of the event loop": (entry) => {
      const purged = called("dlq.purge", { id: entry.id, reason: "raced a replay" });
      return [called("dlq.replay", { id: entry.id }), purged];
    },
  };

  it.each(Object.keys(racers))(
    "a replay-one racing a purge of the same entry, %s: exactly one wins, the loser gets 409, a purged entry is never sent",
    async (how) => {
      const entries = await deadLetters(ENTRIES);

      const pairs = await Promise.all(entries.map((entry, index) => Promise.all(racers[how]!(entry, index))));

      const replayWinners = entries.filter((_entry, index) => pairs[index]![0].status === 200);
      expect(await bus.queueDepth(QUEUE)).toBe(replayWinners.length);
      expect(await sentBack()).toEqual(sorted(replayWinners.map((entry) => entry.messageId)));
      for (const [index, entry] of entries.entries()) {
        const [replay, purge] = pairs[index]!;
        const state = (await http("GET", `/dlq/${entry.id}`)).body;
        expect([replay.status, purge.status].sort()).toEqual([200, 409]);
        const loser = replay.status === 409 ? replay : purge;
        expect(loser.body).toMatchObject({ type: CONFLICT, message: expect.any(String), code: 409 });
        expect(Object.keys(loser.body).sort()).toEqual(["code", "data", "message", "type"]);
        expect(state.status).toBe(replay.status === 200 ? "replayed" : "purged");
      }
    },
  );

  it("a claim left by a process that died before publishing is finished by the next DLQ to start, and sent once", async () => {
    const [entry] = await deadLetters(1);
    // What a crash between the claim and the publish leaves: the claim of a node that is gone.
    const [recorded] = await streamOf(entry!.id);
    await app.store.append(
      `deadletter-${entry!.id}`,
      [
        {
          id: randomUUID(),
          type: "DeadLetterReplayClaimed",
          data: { entryId: entry!.id, claimId: randomUUID(), nodeID: "a-node-that-died", instanceID: randomUUID(), at: new Date().toISOString() },
          metadata: { correlationId: "crashed-request", causationId: "crashed-request", occurredAt: new Date().toISOString() },
        },
      ],
      { expectedRevision: recorded!.revision },
    );
    expect((await http("GET", `/dlq/${entry!.id}`)).body).toMatchObject({ status: "replaying" });
    expect(await bus.queueDepth(QUEUE)).toBe(0);

    // Another DLQ starts on the same store and bus (a restarted node, or a second one).
    const second = await startEmbeddedApp({ env, services: ["dlq"] });
    try {
      await waitFor(async () => (await http("GET", `/dlq/${entry!.id}`)).body.status === "replayed", { what: "the interrupted replay to be finished" });
    } finally {
      await second.stop();
    }

    expect(await bus.queueDepth(QUEUE)).toBe(1);
    expect(await sentBack()).toEqual([entry!.messageId]);
    expect((await streamOf(entry!.id)).map((event) => event.type)).toEqual([
      "MessageDeadLettered",
      "DeadLetterReplayClaimed",
      "DeadLetterReplayClaimed",
      "DeadLetterReplayed",
    ]);
    // Replaying it again sends nothing more: the job finds nothing to take in.
    expect(await replayJob()).toMatchObject({ status: "done", total: 0, replayed: 0 });
    expect(await bus.queueDepth(QUEUE)).toBe(0);
  });

  /** A dead letter of a queue that no consumer declared: the bus refuses to send to it. */
  async function deadLetterOfNowhere(): Promise<{ entryId: string; messageId: string }> {
    const entryId = randomUUID();
    const messageId = randomUUID();
    const now = new Date().toISOString();
    await app.store.append(
      `deadletter-${entryId}`,
      [
        {
          id: randomUUID(),
          type: "MessageDeadLettered",
          data: {
            entryId,
            at: now,
            messageId,
            topic: TOPIC,
            payload: { data: { orderId: randomUUID() } },
            headers: { correlationId: messageId },
            originQueue: "nowhere",
            error: { name: "Error", message: "chaos", stack: "at test" },
            attempts: 1,
            firstFailureAt: now,
            lastFailureAt: now,
          },
          metadata: { correlationId: messageId, causationId: messageId, occurredAt: now },
        },
      ],
      { expectedRevision: NO_STREAM },
    );
    return { entryId, messageId };
  }

  it("a replay whose publish fails gives its claim back: the entry is dead again, and the next replay sends it once", async () => {
    const { entryId, messageId } = await deadLetterOfNowhere();

    const failed = await http("POST", `/dlq/${entryId}/replay`);
    expect(failed.status).toBeGreaterThanOrEqual(500);
    expect((await http("GET", `/dlq/${entryId}`)).body).toMatchObject({ status: "dead", replays: 0 });

    const declared = await bus.consume("nowhere", [], async () => Promise.reject(new Error("not yet")), {
      prefetch: 1,
      retry: { attempts: 1, baseMs: 1, maxMs: 1 },
    });
    await declared.stop();
    expect(await replayJob()).toMatchObject({ status: "done", total: 1, replayed: 1, failed: 0 });
    expect(await sentBack("nowhere")).toEqual([messageId]);
    expect((await streamOf(entryId)).map((event) => event.type)).toEqual([
      "MessageDeadLettered",
      "DeadLetterReplayClaimed",
      "DeadLetterReplayReleased",
      "DeadLetterReplayClaimed",
      "DeadLetterReplayed",
    ]);
  });
  /** An OrderCreated as the relay publishes it, whose line a bug priced negative: the consumer refuses it. */
  const poisonedOrder = (): JsonObject => {
    const orderId = randomUUID();
    const at = new Date().toISOString();
    return {
      id: randomUUID(),
      type: TOPIC,
      stream: `order-${orderId}`,
      revision: 0,
      position: "7",
      data: { orderId, customerId: "alice", currency: "EUR", items: [{ productId: "book", quantity: 2, unitPrice: -1250 }], total: -2500, createdAt: at },
      metadata: { correlationId: orderId, causationId: orderId, occurredAt: at },
    };
  };

  it("an edited poison message is replayed once, as edited, by one of two replays racing: the consumer never sees the original", async () => {
    const [entry] = await deadLetters(1, poisonedOrder);
    const original = (await http("GET", `/dlq/${entry!.id}`)).body.message.payload;
    const fix = [
      { op: "test", path: "/data/items/0/unitPrice", value: -1250 },
      { op: "replace", path: "/data/items/0/unitPrice", value: 1250 },
      { op: "replace", path: "/data/total", value: 2500 },
    ];
    const fixed = { ...original, data: { ...original.data, items: [{ productId: "book", quantity: 2, unitPrice: 1250 }], total: 2500 } };

    // Refused, and nothing recorded: a path that does not exist, a result its schema refuses.
    expect(await http("PATCH", `/dlq/${entry!.id}`, { patch: [{ op: "remove", path: "/data/discount" }], reason: "x" })).toMatchObject({
      status: 422,
      body: { type: "JSON_PATCH_INVALID", code: 422, data: { operation: 0 } },
    });
    expect(await http("PATCH", `/dlq/${entry!.id}`, { patch: [{ op: "replace", path: "/data/total", value: 2500 }], reason: "x" })).toMatchObject({
      status: 422,
      body: { type: "PAYLOAD_INVALID", data: { problems: [{ field: "data.items[0].unitPrice", message: expect.any(String) }] } },
    });
    expect((await streamOf(entry!.id)).map((event) => event.type)).toEqual(["MessageDeadLettered"]);

    const edited = await http("PATCH", `/dlq/${entry!.id}`, { patch: fix, reason: "the price came in negative" });
    expect(edited).toMatchObject({
      status: 200,
      body: { status: "dead", message: { payload: fixed }, edited: { by: "admin", reason: "the price came in negative" } },
    });
    const [, recorded] = await streamOf(entry!.id);
    expect(recorded).toMatchObject({ type: "DeadLetterEdited", data: { by: "admin", reason: "the price came in negative", patch: fix, payload: fixed } });

    const [job, one] = await Promise.all([replayJob(), http("POST", `/dlq/${entry!.id}/replay`)]);

    const [replayer, ...others] = await byWhom(entry!.id, "DeadLetterReplayed");
    expect(others).toEqual([]);
    expect([job.id, one.requestId]).toContain(replayer);
    expect(job.replayed).toBe(replayer === job.id ? 1 : 0);
    expect(await bus.queueDepth(QUEUE)).toBe(1);
    expect(await deliveries()).toEqual([{ messageId: entry!.messageId, payload: fixed }]);
    expect(await byWhom(entry!.id, "DeadLetterReplayClaimed")).toHaveLength(1);
    // Sent as it is: an edit now would change nothing that went out.
    expect(await http("PATCH", `/dlq/${entry!.id}`, { patch: fix, reason: "too late" })).toMatchObject({ status: 409, body: { type: "DEAD_LETTER_REPLAYED" } });
  });

  it("a replay job whose sends keep failing fails after ten in a row, naming why; its entries stay dead", async () => {
    const entries: string[] = [];
    for (let index = 0; index < 12; index += 1) entries.push((await deadLetterOfNowhere()).entryId);

    const job = await replayJob();

    expect(job).toMatchObject({
      status: "failed",
      total: 12,
      replayed: 0,
      skipped: 0,
      failed: 10,
      error: expect.stringMatching(/^10 entries in a row failed/),
    });
    expect((await http("GET", "/dlq?status=dead&limit=100")).body.items).toHaveLength(12);
    for (const entryId of entries.slice(0, 10)) {
      expect((await streamOf(entryId)).map((event) => event.type)).toEqual(["MessageDeadLettered", "DeadLetterReplayClaimed", "DeadLetterReplayReleased"]);
    }
  });

  describe("a paced replay job", () => {
    const PACED_ENTRIES = 30;
    const paced = () => ({ ...env, DLQ_REPLAY_RATE: "20" });

    beforeEach(async () => {
      await app.stop();
      app = await startEmbeddedApp({ env: paced(), services: ["api", "dlq"] });
    });

    it("takes its entries at its rate, evenly", async () => {
      await deadLetters(10);

      const job = await replayJob();

      expect(job).toMatchObject({ status: "done", total: 10, replayed: 10, rate: 20 });
      // Nine waits of 50 ms between ten entries: no burst.
      expect(Date.parse(job.endedAt) - Date.parse(job.startedAt)).toBeGreaterThanOrEqual(400);
    });

    it("whose node stops halfway is resumed by the next node to start, and sends every entry exactly once", async () => {
      const entries = await deadLetters(PACED_ENTRIES);
      const started = await http("POST", "/dlq/replay", {});
      expect(started).toMatchObject({ status: 202, body: { status: "running", total: PACED_ENTRIES, rate: 20 } });
      const jobId = started.body.id as string;
      await waitFor(async () => (await http("GET", `/dlq/jobs/${jobId}`)).body.replayed >= 5, { what: "the job to record some progress" });

      // Held by the test, so that the job's stream can be read with no node running.
      const store = acquireEventStore(app.config.eventStoreUrl);
      try {
        await app.stop();
        // What the stopped node recorded: its batches, and no end.
        const recorded = await store.read(`dlqjob-${jobId}`);
        expect(recorded.map((event) => event.type).filter((type) => type !== "DlqJobProgressed")).toEqual(["DlqJobStarted", "DlqJobEntriesListed"]);
        const sentSoFar = await bus.queueDepth(QUEUE);
        expect(recorded.reduce((sum, event) => sum + (event.type === "DlqJobProgressed" ? Number(event.data.done) : 0), 0)).toBe(sentSoFar);
        expect(sentSoFar).toBeGreaterThanOrEqual(5);
        expect(sentSoFar).toBeLessThan(PACED_ENTRIES);

        app = await startEmbeddedApp({ env: paced(), services: ["api", "dlq"] });
        const job = await followed(jobId);

        expect(job).toMatchObject({ status: "done", total: PACED_ENTRIES, replayed: PACED_ENTRIES, skipped: 0, failed: 0 });
        expect(await bus.queueDepth(QUEUE)).toBe(PACED_ENTRIES);
        expect(await sentBack()).toEqual(sorted(entries.map((entry) => entry.messageId)));
        for (const entry of entries) expect(await byWhom(entry.id, "DeadLetterReplayClaimed")).toEqual([jobId]);
      } finally {
        await releaseEventStore(app.config.eventStoreUrl);
      }
    });

    it("stops when cancelled: what it sent is counted, the rest stays dead, and no node resumes it", async () => {
      await deadLetters(PACED_ENTRIES);
      const jobId = (await http("POST", "/dlq/replay", {})).body.id as string;
      await waitFor(async () => (await http("GET", `/dlq/jobs/${jobId}`)).body.replayed >= 2, { what: "the job to record some progress" });

      const cancelled = await http("POST", `/dlq/jobs/${jobId}/cancel`, {});

      expect(cancelled).toMatchObject({ status: 200, body: { id: jobId, status: "cancelled", cancelledBy: "admin", endedAt: expect.any(String) } });
      expect(await http("POST", `/dlq/jobs/${jobId}/cancel`, {})).toMatchObject({
        status: 409,
        body: { type: "DLQ_JOB_ENDED", data: { status: "cancelled" } },
      });
      // A stop waits for the job's run to end; the node started next finds no running job.
      await app.stop();
      app = await startEmbeddedApp({ env: paced(), services: ["api", "dlq"] });
      const job = (await http("GET", `/dlq/jobs/${jobId}`)).body;
      expect(job).toMatchObject({ status: "cancelled", total: PACED_ENTRIES, skipped: 0, failed: 0 });
      expect(job.replayed).toBeLessThan(PACED_ENTRIES);
      expect(await bus.queueDepth(QUEUE)).toBe(job.replayed);
      expect((await http("GET", "/dlq?status=dead&limit=100")).body.items).toHaveLength(PACED_ENTRIES - job.replayed);
      expect((await http("GET", "/dlq/jobs?status=running")).body).toEqual({ items: [], nextCursor: null });
    });
  });
});

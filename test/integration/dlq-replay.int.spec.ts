import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Errors } from "moleculer";
import { MessageBus } from "../../adapters/bus";
import { NO_STREAM, RecordedEvent } from "../../adapters/event-store";
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
 * Concurrent operators on the DLQ (issue 11, item 7): two replay-alls, replay-all racing
 * replay-ones, replays racing purges. Each entry is sent at most once, and exactly once when
 * a replay won it; counted on the bus itself (messages waiting in the origin queue, then their
 * ids), on the memory bus and on RabbitMQ.
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
    env = { ...fixture.env(), ADMIN_TOKEN: TOKEN, EVENT_STORE_URL: `sqlite:${join(dir, "events.db")}` };
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
  async function deadLetters(count: number): Promise<{ id: string; messageId: string }[]> {
    const failing = await bus.consume(QUEUE, [TOPIC], async () => Promise.reject(new Error("chaos")), {
      prefetch: 20,
      retry: { attempts: 1, baseMs: 1, maxMs: 1 },
    });
    const messageIds: string[] = [];
    for (let index = 0; index < count; index += 1) {
      const messageId = randomUUID();
      messageIds.push(messageId);
      await bus.publish({ messageId, topic: TOPIC, payload: { data: { orderId: randomUUID() } }, headers: { correlationId: messageId } });
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

  /** Every message the DLQ sent back to the origin queue, by id, taken off the queue. */
  async function sentBack(queue = QUEUE): Promise<string[]> {
    const waiting = await bus.queueDepth(queue);
    const received: string[] = [];
    const taker = await bus.consume(queue, [], async (delivery) => void received.push(delivery.messageId), {
      prefetch: 50,
      retry: { attempts: 1, baseMs: 1, maxMs: 1 },
    });
    await waitFor(() => received.length >= waiting, { what: `${waiting} messages taken off ${queue}` });
    await taker.stop();
    return received.sort();
  }

  async function streamOf(entryId: string): Promise<RecordedEvent[]> {
    return app.store.read(`deadletter-${entryId}`);
  }

  /** Correlation ids (the X-Request-ID of the request) of the events of a type in an entry's stream. */
  async function byWhom(entryId: string, type: "DeadLetterReplayClaimed" | "DeadLetterReplayed"): Promise<string[]> {
    return (await streamOf(entryId)).filter((event) => event.type === type).map((event) => String(event.metadata.correlationId));
  }

  const sorted = (values: string[]) => [...values].sort();

  it("two replay-alls at the same moment: replayed counts add up to the entries, each message is sent once", async () => {
    const entries = await deadLetters(ENTRIES);

    const answers = await Promise.all([http("POST", "/dlq/replay", {}), http("POST", "/dlq/replay", {})]);

    expect(answers.map((answer) => answer.status)).toEqual([200, 200]);
    expect(await bus.queueDepth(QUEUE)).toBe(ENTRIES);
    expect(answers[0].body.replayed + answers[1].body.replayed).toBe(ENTRIES);
    expect(await sentBack()).toEqual(sorted(entries.map((entry) => entry.messageId)));
    const replayers = await Promise.all(entries.map((entry) => byWhom(entry.id, "DeadLetterReplayed")));
    for (const answer of answers) {
      expect(answer.body.replayed).toBe(replayers.filter((by) => by[0] === answer.requestId).length);
    }
    for (const entry of entries) {
      expect(await byWhom(entry.id, "DeadLetterReplayClaimed")).toHaveLength(1);
      expect(await byWhom(entry.id, "DeadLetterReplayed")).toEqual(await byWhom(entry.id, "DeadLetterReplayClaimed"));
    }
    expect((await http("GET", "/dlq?status=replayed&limit=100")).body.items).toHaveLength(ENTRIES);
  });

  it("replay-all racing a replay-one of every entry: each entry is sent once, by the request that claimed it", async () => {
    const entries = await deadLetters(ENTRIES);

    // The replay-ones go last entry first, to meet the replay-all halfway.
    const [all, ...reversed] = await Promise.all([
      http("POST", "/dlq/replay", {}),
      ...[...entries].reverse().map((entry) => http("POST", `/dlq/${entry.id}/replay`)),
    ]);
    const ones = reversed.reverse();

    expect(await bus.queueDepth(QUEUE)).toBe(ENTRIES);
    expect(all.status).toBe(200);
    const replayers = await Promise.all(entries.map((entry) => byWhom(entry.id, "DeadLetterReplayed")));
    const wonByOnes = ones.filter((one, index) => replayers[index]![0] === one.requestId).length;
    expect(all.body.replayed + wonByOnes).toBe(ENTRIES);
    expect(await sentBack()).toEqual(sorted(entries.map((entry) => entry.messageId)));
    for (const [index, entry] of entries.entries()) {
      expect(replayers[index]).toHaveLength(1);
      expect([all.requestId, ones[index]!.requestId]).toContain(replayers[index]![0]);
      expect(await byWhom(entry.id, "DeadLetterReplayClaimed")).toEqual(replayers[index]);
      const one = ones[index]!;
      // A replay-one that lost its entry answers 409 in the gateway's one error shape, or
      // (when the winner had already finished) the replayed entry it found.
      if (one.status === 200) expect(one.body).toMatchObject({ id: entries[index]!.id, status: "replayed", replays: 1 });
      else expect(one).toMatchObject({ status: 409, body: { type: CONFLICT, message: expect.any(String), code: 409 } });
    }
  });

  it("replay-all racing purges: each entry is either purged and never sent, or replayed and sent once", async () => {
    const entries = await deadLetters(ENTRIES);

    const [all, ...purges] = await Promise.all([
      http("POST", "/dlq/replay", {}),
      ...entries.map((entry) => http("DELETE", `/dlq/${entry.id}`, { reason: "raced a replay" })),
    ]);

    expect(all.status).toBe(200);
    const states = await Promise.all(entries.map(async (entry) => (await http("GET", `/dlq/${entry.id}`)).body.status as string));
    const replayed = entries.filter((_entry, index) => states[index] === "replayed");
    expect(await bus.queueDepth(QUEUE)).toBe(replayed.length);
    expect(all.body.replayed).toBe(replayed.length);
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
    // Replaying it again sends nothing more.
    expect(await http("POST", "/dlq/replay", {})).toMatchObject({ status: 200, body: { replayed: 0 } });
    expect(await bus.queueDepth(QUEUE)).toBe(0);
  });

  it("a replay whose publish fails gives its claim back: the entry is dead again, and the next replay sends it once", async () => {
    // A dead letter of a queue that no consumer declared: the bus refuses to send to it.
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

    const failed = await http("POST", `/dlq/${entryId}/replay`);
    expect(failed.status).toBeGreaterThanOrEqual(500);
    expect((await http("GET", `/dlq/${entryId}`)).body).toMatchObject({ status: "dead", replays: 0 });

    const declared = await bus.consume("nowhere", [], async () => Promise.reject(new Error("not yet")), {
      prefetch: 1,
      retry: { attempts: 1, baseMs: 1, maxMs: 1 },
    });
    await declared.stop();
    expect(await http("POST", "/dlq/replay", {})).toMatchObject({ status: 200, body: { replayed: 1 } });
    expect(await sentBack("nowhere")).toEqual([messageId]);
    expect((await streamOf(entryId)).map((event) => event.type)).toEqual([
      "MessageDeadLettered",
      "DeadLetterReplayClaimed",
      "DeadLetterReplayReleased",
      "DeadLetterReplayClaimed",
      "DeadLetterReplayed",
    ]);
  });
});

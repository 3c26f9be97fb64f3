import { randomUUID } from "node:crypto";
import { DeadLetter, Delivery, HandBack, MAX_STACK_LENGTH, MessageBus, OutgoingMessage, RetryPolicy } from "../../adapters/bus";
import { waitFor } from "../../tools/wait-for";
import { amqpFixture, memoryFixture, messageBusFixtures, runsOnRabbitMq } from "../support/message-buses";
import { RABBITMQ_URL, closeConnectionsNamed, rabbitmqctl } from "../support/rabbitmq";

const retry: RetryPolicy = { attempts: 3, baseMs: 20, maxMs: 100 };
const options = { prefetch: 10, retry };
/** A delivery's own id: 16 hex digits, the shape of the span id a trace gives it. */
const DELIVERY_ID = expect.stringMatching(/^[0-9a-f]{16}$/) as unknown as string;

function aMessage(topic: string): OutgoingMessage {
  return {
    messageId: randomUUID(),
    topic,
    payload: { orderId: randomUUID(), total: { cents: 1250, currency: "EUR" }, lines: [{ sku: "glitch-1" }] },
    headers: { correlationId: randomUUID(), priority: 2, replayed: false },
  };
}

/** A handler that keeps what it was given, and when, after doing `behaviour`'s part. */
function recorder<T = Delivery>(behaviour: (received: T, index: number) => Promise<void> = async () => undefined) {
  const received: T[] = [];
  const times: number[] = [];
  return {
    received,
    times,
    handler: async (item: T) => {
      received.push(item);
      times.push(Date.now());
      await behaviour(item, received.length - 1);
    },
  };
}

function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

function failWith(message: string): () => Promise<void> {
  return async () => {
    throw new TypeError(message);
  };
}

describe.each(messageBusFixtures())("MessageBus contract: $name", (fixture) => {
  let bus: MessageBus;

  beforeEach(async () => {
    bus = await fixture.open();
  });

  afterEach(() => fixture.closeAll());

  afterAll(() => fixture.dispose());

  it("delivers a published message with its id, topic, payload and application headers", async () => {
    const orchestrator = recorder();
    await bus.consume("orchestrator", ["OrderCreated"], orchestrator.handler, options);
    const message = aMessage("OrderCreated");

    await bus.publish(message);

    await waitFor(() => orchestrator.received.length === 1);
    expect(orchestrator.received[0]).toEqual({ ...message, queue: "orchestrator", attempt: 1, deliveryId: DELIVERY_ID });
  });

  it("delivers a message given to publishDurably like a published one, and resolves", async () => {
    const orchestrator = recorder();
    await bus.consume("durable", ["OrderCreated"], orchestrator.handler, options);
    const message = aMessage("OrderCreated");

    await bus.publishDurably(message);

    await waitFor(() => orchestrator.received.length === 1);
    expect(orchestrator.received[0]).toEqual({ ...message, queue: "durable", attempt: 1, deliveryId: DELIVERY_ID });
  });

  it("routes by topic patterns: * is exactly one word, # is zero or more", async () => {
    const matched = recorder();
    await bus.consume("routing", ["order.*", "payment.#"], matched.handler, { prefetch: 1, retry });
    const topics = ["order.created", "order.created.v2", "payment", "payment.authorized.eu", "shipment.sent", "order"];

    for (const topic of topics) await bus.publish(aMessage(topic));
    // Published last on a FIFO queue: once it is in, everything routed before it is in too.
    await bus.publish(aMessage("order.sentinel"));

    await waitFor(() => matched.received.some((delivery) => delivery.topic === "order.sentinel"));
    expect(matched.received.map((delivery) => delivery.topic)).toEqual(["order.created", "payment", "payment.authorized.eu", "order.sentinel"]);
  });

  it("gives every queue its own copy of the payload", async () => {
    const mutating = recorder(async (delivery) => {
      delivery.payload.orderId = "changed by another consumer";
    });
    const reading = recorder();
    await bus.consume("mutating", ["OrderCreated"], mutating.handler, options);
    await bus.consume("reading", ["OrderCreated"], reading.handler, options);
    const message = aMessage("OrderCreated");

    await bus.publish(message);

    await waitFor(() => mutating.received.length === 1 && reading.received.length === 1);
    expect(reading.received[0]!.payload).toEqual(message.payload);
  });

  it("delivers a message again, as attempt 2, when its handler throws (at least once)", async () => {
    const flaky = recorder(async (_delivery, index) => {
      if (index === 0) throw new Error("participant unavailable");
    });
    await bus.consume("flaky", ["OrderCreated"], flaky.handler, options);
    const message = aMessage("OrderCreated");

    await bus.publish(message);

    await waitFor(() => flaky.received.length === 2);
    expect(flaky.received).toEqual([
      { ...message, queue: "flaky", attempt: 1, deliveryId: DELIVERY_ID },
      {
        ...message,
        queue: "flaky",
        attempt: 2,
        lastFailureAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        deliveryId: DELIVERY_ID,
        // Names the attempt it retries: a trace links the two.
        retryOf: flaky.received[0]!.deliveryId,
      },
    ]);
    expect(flaky.received[1]!.deliveryId).not.toBe(flaky.received[0]!.deliveryId);
  });

  it("dead-letters a message after its last attempt, with what an operator needs to replay it", async () => {
    const failing = recorder(failWith("card declined"));
    const dead = recorder<DeadLetter>();
    await bus.consume("payments", ["PaymentRequested"], failing.handler, options);
    await bus.consumeDeadLetters(dead.handler);
    const message = aMessage("PaymentRequested");

    await bus.publish(message);

    await waitFor(() => dead.received.length === 1);
    expect(failing.received.map((delivery) => delivery.attempt)).toEqual([1, 2, 3]);
    const deadLetter = dead.received[0]!;
    expect(deadLetter).toEqual({
      messageId: message.messageId,
      topic: "PaymentRequested",
      payload: message.payload,
      headers: message.headers,
      originQueue: "payments",
      error: { name: "TypeError", message: "card declined", stack: expect.stringContaining("TypeError: card declined") },
      attempts: 3,
      firstFailureAt: expect.any(String),
      lastFailureAt: expect.any(String),
    });
    const [first, last] = [Date.parse(deadLetter.firstFailureAt), Date.parse(deadLetter.lastFailureAt)];
    expect(first).toBeGreaterThanOrEqual(failing.times[0]! - 1);
    expect(last).toBeGreaterThanOrEqual(failing.times[2]! - 1);
    expect(last).toBeGreaterThan(first);
  });

  it("keeps at most MAX_STACK_LENGTH characters of the error stack", async () => {
    const dead = recorder<DeadLetter>();
    await bus.consumeDeadLetters(dead.handler);
    await bus.consume(
      "deep-stack",
      ["OrderCreated"],
      async () => {
        const error = new Error("too deep");
        error.stack = "x".repeat(MAX_STACK_LENGTH * 5);
        throw error;
      },
      { prefetch: 1, retry: { ...retry, attempts: 1 } },
    );

    await bus.publish(aMessage("OrderCreated"));

    await waitFor(() => dead.received.length === 1);
    expect(dead.received[0]!.error.stack).toHaveLength(MAX_STACK_LENGTH);
    expect(dead.received[0]!.attempts).toBe(1);
  });

  it("waits the jittered delay between attempts: the cap when jitter draws its maximum", async () => {
    const pinned = await fixture.open({ random: () => 1 });
    const failing = recorder(failWith("still down"));
    const policy = { attempts: 4, baseMs: 50, maxMs: 150 };
    await pinned.consume("delayed", ["OrderCreated"], failing.handler, { prefetch: 1, retry: policy });

    await pinned.publish(aMessage("OrderCreated"));

    await waitFor(() => failing.received.length === 4);
    const gaps = failing.times.slice(1).map((time, index) => time - failing.times[index]!);
    [50, 100, 150].forEach((cap, index) => {
      expect(gaps[index]).toBeGreaterThanOrEqual(cap - 2); // timers may fire a millisecond early
      expect(gaps[index]).toBeLessThan(cap + 1_000);
    });
  });

  it("keeps the jittered delays between attempts within [0, cap]", async () => {
    const failing = recorder(failWith("still down"));
    const policy = { attempts: 5, baseMs: 20, maxMs: 100 };
    await bus.consume("jittered", ["OrderCreated"], failing.handler, { prefetch: 1, retry: policy });

    await bus.publish(aMessage("OrderCreated"));

    await waitFor(() => failing.received.length === 5);
    const gaps = failing.times.slice(1).map((time, index) => time - failing.times[index]!);
    [20, 40, 80, 100].forEach((cap, index) => {
      expect(gaps[index]).toBeGreaterThanOrEqual(0);
      expect(gaps[index]).toBeLessThan(cap + 1_000);
    });
  });

  it("gives an unacked message back when its consumer stops with the handler stuck", async () => {
    const impatient = await fixture.open({ stopTimeoutMs: 100 });
    const stuck = gate();
    const dying = recorder(() => stuck.opened);
    const dyingConsumer = await impatient.consume("stuck", ["OrderCreated"], dying.handler, { prefetch: 1, retry });
    const message = aMessage("OrderCreated");
    await impatient.publish(message);
    await waitFor(() => dying.received.length === 1);

    await dyingConsumer.stop();
    const survivor = recorder();
    await impatient.consume("stuck", ["OrderCreated"], survivor.handler, { prefetch: 1, retry });

    await waitFor(() => survivor.received.length === 1);
    expect(survivor.received[0]).toEqual({ ...message, queue: "stuck", attempt: 1, deliveryId: DELIVERY_ID });
    // The stuck handler finishing late must not ack anything on the survivor's behalf.
    stuck.open();
    const next = aMessage("OrderCreated");
    await impatient.publish(next);
    await waitFor(() => survivor.received.length === 2);
    expect(survivor.received[1]!.messageId).toBe(next.messageId);
    expect(fixture.logger.lines.filter((line) => line.level === "error")).toEqual([]);
  });

  it("waits for the handler in flight when stopping, and acks its message", async () => {
    const slow = gate();
    const first = recorder(() => slow.opened);
    const consumer = await bus.consume("draining", ["OrderCreated"], first.handler, { prefetch: 1, retry });
    await bus.publish(aMessage("OrderCreated"));
    await waitFor(() => first.received.length === 1);

    let stopped = false;
    const stopping = consumer.stop().then(() => (stopped = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(stopped).toBe(false);
    slow.open();
    await stopping;

    const second = recorder();
    await bus.consume("draining", ["OrderCreated"], second.handler, { prefetch: 1, retry });
    const sentinel = aMessage("OrderCreated");
    await bus.publish(sentinel);
    await waitFor(() => second.received.length === 1);
    expect(second.received[0]!.messageId).toBe(sentinel.messageId);
  });

  it("replays a dead letter with sendToQueue as a fresh first attempt", async () => {
    const dead = recorder<DeadLetter>();
    await bus.consumeDeadLetters(dead.handler);
    const failing = await bus.consume("replayed", ["OrderCreated"], failWith("chaos on"), {
      prefetch: 1,
      retry: { ...retry, attempts: 2 },
    });
    const message = aMessage("OrderCreated");
    await bus.publish(message);
    await waitFor(() => dead.received.length === 1);
    await failing.stop();

    const deadLetter = dead.received[0]!;
    const fixed = recorder();
    await bus.consume("replayed", ["OrderCreated"], fixed.handler, options);
    const { messageId, topic, payload, headers } = deadLetter;
    await bus.sendToQueue(deadLetter.originQueue, { messageId, topic, payload, headers });

    await waitFor(() => fixed.received.length === 1);
    expect(fixed.received[0]).toEqual({ ...message, queue: "replayed", attempt: 1, deliveryId: DELIVERY_ID });
  });

  it("takes a message handed back without spending an attempt: same attempt and failure history, dead-lettered only after `attempts` real failures", async () => {
    const dead = recorder<DeadLetter>();
    await bus.consumeDeadLetters(dead.handler);
    const outcomes = ["fail", "hand back", "hand back", "fail", "hand back", "fail"];
    const worker = recorder(async (_delivery, index) => {
      if (outcomes[index] === "hand back") throw new HandBack("circuit breaker open");
      throw new TypeError(`failure ${index}`);
    });
    await bus.consume("handed-back", ["OrderCreated"], worker.handler, options);
    const message = aMessage("OrderCreated");

    await bus.publish(message);

    await waitFor(() => dead.received.length === 1);
    expect(worker.received.map((delivery) => delivery.attempt)).toEqual([1, 2, 2, 2, 3, 3]);
    const [afterFirst, ...handedBack] = worker.received.slice(1, 4).map((delivery) => delivery.lastFailureAt);
    expect(handedBack).toEqual([afterFirst, afterFirst]);
    expect(worker.received[2]).toEqual({
      ...message,
      queue: "handed-back",
      attempt: 2,
      lastFailureAt: afterFirst,
      deliveryId: DELIVERY_ID,
      retryOf: worker.received[0]!.deliveryId,
    });
    // Each delivery is new; a retry names the delivery that failed last, a hand-back changes nothing.
    expect(new Set(worker.received.map((delivery) => delivery.deliveryId)).size).toBe(6);
    expect(worker.received.map((delivery) => delivery.retryOf)).toEqual([
      undefined,
      ...Array(3).fill(worker.received[0]!.deliveryId),
      ...Array(2).fill(worker.received[3]!.deliveryId),
    ]);
    expect(dead.received[0]).toMatchObject({ messageId: message.messageId, attempts: 3, error: { name: "TypeError", message: "failure 5" } });
  });

  it("pauses: the messages wait in the queue while handlers in flight finish and ack; resume delivers them", async () => {
    const inFlight = gate();
    const worker = recorder((_delivery, index) => (index === 0 ? inFlight.opened : Promise.resolve()));
    const consumer = await bus.consume("paused", ["OrderCreated"], worker.handler, options);
    const first = aMessage("OrderCreated");
    await bus.publish(first);
    await waitFor(() => worker.received.length === 1);

    await consumer.pause();
    await consumer.pause(); // idempotent
    const waiting = [aMessage("OrderCreated"), aMessage("OrderCreated"), aMessage("OrderCreated")];
    for (const message of waiting) await bus.publish(message);
    inFlight.open();

    await waitFor(async () => (await bus.queueDepth("paused")) === 3);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(worker.received).toHaveLength(1);
    await consumer.resume();
    await consumer.resume();
    await waitFor(() => worker.received.length === 4);
    expect(worker.received.map((delivery) => delivery.messageId)).toEqual([first, ...waiting].map((message) => message.messageId));
    await waitFor(async () => (await bus.queueDepth("paused")) === 0);
    // The message in flight during the pause was acked: it never comes again.
    await bus.publish(aMessage("OrderCreated"));
    await waitFor(() => worker.received.length === 5);
    expect(worker.received.filter((delivery) => delivery.messageId === first.messageId)).toHaveLength(1);
  });

  it("stops a paused consumer, and a consumer started on its queue takes what waited", async () => {
    const consumer = await bus.consume("paused-then-stopped", ["OrderCreated"], async () => undefined, options);
    await consumer.pause();
    const message = aMessage("OrderCreated");
    await bus.publish(message);

    await consumer.stop();
    const next = recorder();
    await bus.consume("paused-then-stopped", ["OrderCreated"], next.handler, options);

    await waitFor(() => next.received.length === 1);
    expect(next.received[0]).toEqual({ ...message, queue: "paused-then-stopped", attempt: 1, deliveryId: DELIVERY_ID });
  });

  it("refuses sendToQueue to a queue nobody declared", async () => {
    await expect(bus.sendToQueue("nobody-consumes-this", aMessage("OrderCreated"))).rejects.toThrow();
  });

  it("counts the messages waiting in a queue", async () => {
    const declaring = await bus.consume("parked", ["OrderParked"], async () => undefined, options);
    await declaring.stop();

    for (let index = 0; index < 3; index += 1) await bus.publish(aMessage("OrderParked"));

    await waitFor(async () => (await bus.queueDepth("parked")) === 3);
    const drained = recorder();
    await bus.consume("parked", ["OrderParked"], drained.handler, options);
    await waitFor(() => drained.received.length === 3);
    await waitFor(async () => (await bus.queueDepth("parked")) === 0);
  });

  it("answers ping while open and refuses to work once closed", async () => {
    await expect(bus.ping()).resolves.toBeUndefined();
    await bus.close();
    await expect(bus.ping()).rejects.toThrow();
    await expect(bus.publish(aMessage("OrderCreated"))).rejects.toThrow();
  });
});

/** Whether a promise has settled yet, without waiting for it. */
async function isDone(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  void promise.then(
    () => (done = true),
    () => (done = true),
  );
  await new Promise((resolve) => setImmediate(resolve));
  return done;
}

describe("MessageBus on memory: publishDurably resolves once the message no longer lives only in this process", () => {
  const fixture = memoryFixture();
  let bus: MessageBus;

  beforeEach(async () => {
    bus = await fixture.open();
  });

  afterEach(() => fixture.closeAll());

  it("waits until every queue the message was routed to has acked it", async () => {
    const slow = gate();
    await bus.consume("fast", ["OrderCreated"], async () => undefined, options);
    const held = recorder(() => slow.opened);
    await bus.consume("slow", ["OrderCreated"], held.handler, options);

    const publishing = bus.publishDurably(aMessage("OrderCreated"));

    await waitFor(() => held.received.length === 1);
    expect(await isDone(publishing)).toBe(false);
    slow.open();
    await expect(publishing).resolves.toBeUndefined();
  });

  it("waits through retries for the attempt that succeeds", async () => {
    const flaky = recorder(async (_delivery, index) => {
      if (index < 2) throw new Error("participant unavailable");
    });
    await bus.consume("flaky", ["OrderCreated"], flaky.handler, options);

    await bus.publishDurably(aMessage("OrderCreated"));

    expect(flaky.received.map((delivery) => delivery.attempt)).toEqual([1, 2, 3]);
  });

  it("waits for a dead-lettered message until the dead-letter consumer took it", async () => {
    await bus.consume("doomed", ["OrderCreated"], failWith("chaos on"), { prefetch: 1, retry: { ...retry, attempts: 1 } });

    const publishing = bus.publishDurably(aMessage("OrderCreated"));

    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await isDone(publishing)).toBe(false);
    const dead = recorder<DeadLetter>();
    await bus.consumeDeadLetters(dead.handler);
    await expect(publishing).resolves.toBeUndefined();
    expect(dead.received).toHaveLength(1);
  });

  it("keeps a message given back by a stopping consumer unsettled until another one acks it", async () => {
    const impatient = await fixture.open({ stopTimeoutMs: 50 });
    const stuck = gate();
    const first = await impatient.consume("handed-back", ["OrderCreated"], () => stuck.opened, { prefetch: 1, retry });
    const publishing = impatient.publishDurably(aMessage("OrderCreated"));
    await new Promise((resolve) => setTimeout(resolve, 20));

    await first.stop();
    stuck.open(); // acks nothing: the message was given back already
    expect(await isDone(publishing)).toBe(false);
    await impatient.consume("handed-back", ["OrderCreated"], async () => undefined, { prefetch: 1, retry });
    await expect(publishing).resolves.toBeUndefined();
  });

  it("resolves at once for a message routed to no queue", async () => {
    await expect(bus.publishDurably(aMessage("NobodyListens"))).resolves.toBeUndefined();
  });

  it("rejects when the bus closes with the message unsettled", async () => {
    const parking = await bus.consume("parked", ["OrderParked"], async () => undefined, options);
    await parking.stop();

    const publishing = bus.publishDurably(aMessage("OrderParked"));
    await bus.close();

    await expect(publishing).rejects.toThrow("closed before the message was settled");
  });
});

const describeOnRabbitMq = runsOnRabbitMq ? describe : describe.skip;

describeOnRabbitMq(`MessageBus on RabbitMQ (${RABBITMQ_URL})`, () => {
  const fixture = amqpFixture();

  afterEach(() => fixture.closeAll());

  afterAll(() => fixture.dispose());

  it("keeps persistent messages across a broker restart and resumes publishers and consumers", async () => {
    const bus = await fixture.open();
    const live = recorder();
    await bus.consume("live", ["Live"], live.handler, options);
    const declaring = await bus.consume("parked", ["Parked"], async () => undefined, options);
    await declaring.stop();
    const parked = [aMessage("Parked"), aMessage("Parked"), aMessage("Parked")];
    for (const message of parked) await bus.publish(message);

    await rabbitmqctl("stop_app");
    await waitFor(
      () =>
        bus.ping().then(
          () => false,
          () => true,
        ),
      { timeoutMs: 10_000, what: "the bus noticed the broker was gone" },
    );
    const publishedDuringOutage = aMessage("Live");
    const publishing = bus.publish(publishedDuringOutage);
    await rabbitmqctl("start_app");
    await waitFor(
      () =>
        bus.ping().then(
          () => true,
          () => false,
        ),
      { timeoutMs: 30_000, what: "the bus reconnected" },
    );
    await publishing;

    const publishedAfter = aMessage("Live");
    await bus.publish(publishedAfter);
    const drained = recorder();
    await bus.consume("parked", ["Parked"], drained.handler, options);
    await waitFor(() => drained.received.length === 3 && live.received.length === 2, { timeoutMs: 15_000 });
    expect(drained.received.map((delivery) => delivery.messageId)).toEqual(parked.map((message) => message.messageId));
    expect(live.received.map((delivery) => delivery.messageId).sort()).toEqual([publishedDuringOutage.messageId, publishedAfter.messageId].sort());
  }, 60_000);

  it("redelivers what was in flight on a lost connection, and never acks it on the new channel", async () => {
    const bus = await fixture.open();
    const released = gate();
    const worker = recorder((_delivery, index) => (index === 0 ? released.opened : Promise.resolve()));
    await bus.consume("work", ["Work"], worker.handler, { prefetch: 1, retry });
    const message = aMessage("Work");
    await bus.publish(message);
    await waitFor(() => worker.received.length === 1);

    await closeConnectionsNamed(`${bus.topology.namespace} pid`);

    await waitFor(() => worker.received.length === 2, { timeoutMs: 10_000, what: "the redelivery" });
    expect(worker.received[1]).toEqual({ ...message, queue: "work", attempt: 1, deliveryId: DELIVERY_ID });
    // An ack of delivery tag 1 sent on the new channel would fail it: PRECONDITION_FAILED.
    released.open();
    const next = aMessage("Work");
    await bus.publish(next);
    await waitFor(() => worker.received.length === 3);
    expect(fixture.logger.lines.filter((line) => line.text.includes("PRECONDITION_FAILED"))).toEqual([]);
    expect(await bus.queueDepth("work")).toBe(0);
  }, 20_000);

  it("hands a message back more often than the quorum delivery limit without RabbitMQ dead-lettering it", async () => {
    const bus = await fixture.open({ deliveryLimit: 1 });
    const dead = recorder<DeadLetter>();
    await bus.consumeDeadLetters(dead.handler);
    const worker = recorder(async (_delivery, index) => {
      if (index < 4) throw new HandBack("circuit breaker open");
    });
    await bus.consume("limited", ["Work"], worker.handler, { prefetch: 1, retry });

    await bus.publish(aMessage("Work"));

    await waitFor(() => worker.received.length === 5);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(worker.received.map((delivery) => delivery.attempt)).toEqual([1, 1, 1, 1, 1]);
    expect(dead.received).toEqual([]);
    expect(await bus.queueDepth("limited")).toBe(0);
  });

  it("comes back paused after a lost connection, and resumes on the new channel", async () => {
    const bus = await fixture.open();
    const worker = recorder();
    const consumer = await bus.consume("paused-reconnect", ["Work"], worker.handler, { prefetch: 1, retry });
    await consumer.pause();

    await closeConnectionsNamed(`${bus.topology.namespace} pid`);
    await waitFor(
      () =>
        bus.ping().then(
          () => true,
          () => false,
        ),
      { timeoutMs: 10_000, what: "the bus reconnected" },
    );
    await new Promise((resolve) => setTimeout(resolve, 300)); // the consumer's channel is reopened too
    await bus.publish(aMessage("Work"));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(worker.received).toEqual([]);

    await consumer.resume();
    await waitFor(() => worker.received.length === 1, { timeoutMs: 5_000, what: "the delivery after resume" });
  }, 20_000);

  it("dead-letters a poison message whose consumer keeps dying (quorum delivery limit)", async () => {
    const bus = await fixture.open({ deliveryLimit: 1, stopTimeoutMs: 50 });
    const dead = recorder<DeadLetter>();
    await bus.consumeDeadLetters(dead.handler);
    const message = aMessage("Poison");
    const deliveries = recorder(() => new Promise<void>(() => undefined));

    for (let death = 1; dead.received.length === 0; death += 1) {
      const consumer = await bus.consume("poisoned", ["Poison"], deliveries.handler, { prefetch: 1, retry });
      if (death === 1) await bus.publish(message);
      await waitFor(() => deliveries.received.length === death || dead.received.length === 1);
      await consumer.stop();
    }

    expect(deliveries.received).toHaveLength(2);
    expect(dead.received[0]).toEqual({
      messageId: message.messageId,
      topic: "Poison",
      payload: message.payload,
      headers: message.headers,
      originQueue: "poisoned",
      error: { name: "DeliveryLimitExceeded", message: expect.stringContaining("delivery_limit"), stack: "" },
      attempts: 1,
      firstFailureAt: expect.any(String),
      lastFailureAt: expect.any(String),
    });
  });
});

import { randomUUID } from "node:crypto";
import { DeadLetter, Delivery, MAX_STACK_LENGTH, MessageBus, OutgoingMessage, RetryPolicy } from "../../adapters/bus";
import { waitFor } from "../../lib/wait-for";
import { amqpFixture, messageBusFixtures, runsOnRabbitMq } from "../support/message-buses";
import { RABBITMQ_URL, closeConnectionsNamed, rabbitmqctl } from "../support/rabbitmq";

const retry: RetryPolicy = { attempts: 3, baseMs: 20, maxMs: 100 };
const options = { prefetch: 10, retry };

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
    expect(orchestrator.received[0]).toEqual({ ...message, queue: "orchestrator", attempt: 1 });
  });

  it("routes by topic patterns: * is exactly one word, # is zero or more", async () => {
    const matched = recorder();
    await bus.consume("routing", ["order.*", "payment.#"], matched.handler, { prefetch: 1, retry });
    const topics = ["order.created", "order.created.v2", "payment", "payment.authorized.eu", "shipment.sent", "order"];

    for (const topic of topics) await bus.publish(aMessage(topic));
    // Published last on a FIFO queue: once it is in, everything routed before it is in too.
    await bus.publish(aMessage("order.sentinel"));

    await waitFor(() => matched.received.some((delivery) => delivery.topic === "order.sentinel"));
    expect(matched.received.map((delivery) => delivery.topic)).toEqual([
      "order.created",
      "payment",
      "payment.authorized.eu",
      "order.sentinel",
    ]);
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
      { ...message, queue: "flaky", attempt: 1 },
      { ...message, queue: "flaky", attempt: 2, lastFailureAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) },
    ]);
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
    expect(survivor.received[0]).toEqual({ ...message, queue: "stuck", attempt: 1 });
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
    expect(fixed.received[0]).toEqual({ ...message, queue: "replayed", attempt: 1 });
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
    await waitFor(() => bus.ping().then(() => false, () => true), { timeoutMs: 10_000, what: "the bus noticed the broker was gone" });
    const publishedDuringOutage = aMessage("Live");
    const publishing = bus.publish(publishedDuringOutage);
    await rabbitmqctl("start_app");
    await waitFor(() => bus.ping().then(() => true, () => false), { timeoutMs: 30_000, what: "the bus reconnected" });
    await publishing;

    const publishedAfter = aMessage("Live");
    await bus.publish(publishedAfter);
    const drained = recorder();
    await bus.consume("parked", ["Parked"], drained.handler, options);
    await waitFor(() => drained.received.length === 3 && live.received.length === 2, { timeoutMs: 15_000 });
    expect(drained.received.map((delivery) => delivery.messageId)).toEqual(parked.map((message) => message.messageId));
    expect(live.received.map((delivery) => delivery.messageId).sort()).toEqual(
      [publishedDuringOutage.messageId, publishedAfter.messageId].sort(),
    );
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
    expect(worker.received[1]).toEqual({ ...message, queue: "work", attempt: 1 });
    // An ack of delivery tag 1 sent on the new channel would fail it: PRECONDITION_FAILED.
    released.open();
    const next = aMessage("Work");
    await bus.publish(next);
    await waitFor(() => worker.received.length === 3);
    expect(fixture.logger.lines.filter((line) => line.text.includes("PRECONDITION_FAILED"))).toEqual([]);
    expect(await bus.queueDepth("work")).toBe(0);
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

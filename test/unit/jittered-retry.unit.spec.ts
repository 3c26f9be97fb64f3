import { ActionSchema, BrokerOptions, Errors, METRIC, ServiceBroker, ServiceSchema, Span } from "moleculer";
import { retryDelay } from "../../adapters/bus/port";
import { fullJitter } from "../../adapters/bus/full-jitter";
import { JitteredRetryMiddleware, JitteredRetryOptions, isUndelivered, jitteredDelay } from "../../middlewares/jittered-retry";

const policy = { retries: 3, delayMs: 100, maxDelayMs: 300, factor: 2 };

/** What Moleculer's transit throws while the transporter reconnects (its typings ask for a message it ignores). */
const transitDisconnected = () => new Errors.BrokerDisconnectedError("disconnected");

describe("jittered retry", () => {
  it("draws each delay in [0, min(max, delay * factor^(n-1))]", () => {
    expect([1, 2, 3, 4].map((attempt) => jitteredDelay(attempt, policy, () => 0.999999))).toEqual([99, 199, 299, 299]);
    expect([1, 2, 3].map((attempt) => jitteredDelay(attempt, policy, () => 0.5))).toEqual([50, 100, 150]);
    expect(jitteredDelay(3, policy, () => 0)).toBe(0);
  });

  it("is the one full jitter, which the bus's redelivery delay draws from too", () => {
    expect(jitteredDelay).toBe(fullJitter);
    const bus = { attempts: 5, baseMs: 100, maxMs: 300 };
    expect([1, 2, 3, 4].map((failures) => retryDelay(failures, bus, () => 0.5))).toEqual([50, 100, 150, 150]);
  });

  describe("as the broker's retry middleware", () => {
    const waited: number[] = [];
    let calls = 0;
    let failuresLeft = 0;
    let broker: ServiceBroker;
    const draws = [0.25, 0.5, 0.75];

    beforeAll(async () => {
      let draw = 0;
      broker = new ServiceBroker({
        logger: false,
        middlewares: [
          JitteredRetryMiddleware({
            ...policy,
            random: () => draws[draw++ % draws.length]!,
            sleep: async (ms) => void waited.push(ms),
          }),
        ],
      });
      broker.createService({
        name: "flaky",
        actions: {
          retryable() {
            calls += 1;
            if (failuresLeft-- > 0) throw new Errors.MoleculerRetryableError("down", 503, "DOWN");
            return "ok";
          },
          refused() {
            calls += 1;
            throw new Errors.MoleculerClientError("no", 409, "ORDER_ALREADY_CANCELLED");
          },
        },
      });
      await broker.start();
    });
    afterAll(() => broker.stop());
    beforeEach(() => {
      waited.length = 0;
      calls = 0;
    });

    it("retries a retryable failure after jittered, growing caps, and answers once it succeeds", async () => {
      failuresLeft = 3;
      await expect(broker.call("flaky.retryable")).resolves.toBe("ok");
      expect(calls).toBe(4);
      expect(waited).toEqual([25, 100, 225]);
    });

    it("gives up after the configured retries with the last error", async () => {
      failuresLeft = 10;
      await expect(broker.call("flaky.retryable")).rejects.toMatchObject({ type: "DOWN" });
      expect(calls).toBe(4);
    });

    it("never retries a client error", async () => {
      await expect(broker.call("flaky.refused")).rejects.toBeInstanceOf(Errors.MoleculerClientError);
      expect(calls).toBe(1);
      expect(waited).toEqual([]);
    });

    it("takes the call's own retries option", async () => {
      failuresLeft = 10;
      await expect(broker.call("flaky.retryable", {}, { retries: 1 })).rejects.toMatchObject({ type: "DOWN" });
      expect(calls).toBe(2);
    });
  });

  describe("while the transporter is down (a call that reached nothing)", () => {
    let broker: ServiceBroker;
    let clock = 0;
    const waited: number[] = [];
    /** Undelivered failures still to come, and the timeout each call ran with. */
    let undeliveredLeft = 0;
    const timeouts: (number | null | undefined)[] = [];
    const calls = { inner: 0, outer: 0, privateOuter: 0 };

    beforeAll(async () => {
      broker = new ServiceBroker({
        logger: false,
        middlewares: [
          JitteredRetryMiddleware({
            ...policy,
            retries: 1,
            random: () => 0.5,
            now: () => clock,
            sleep: async (ms) => {
              waited.push(ms);
              clock += ms;
            },
          }),
        ],
      });
      broker.createService({
        name: "remote",
        actions: {
          // What the transit throws while RabbitMQ restarts, raised on the calling node.
          send(ctx) {
            calls.inner += 1;
            timeouts.push(ctx.options.timeout);
            if (undeliveredLeft-- > 0) throw transitDisconnected();
            return "delivered";
          },
          down() {
            calls.inner += 1;
            throw new Errors.MoleculerRetryableError("down", 503, "DOWN");
          },
        },
      });
      broker.createService({
        name: "caller",
        actions: {
          outer(ctx) {
            calls.outer += 1;
            return ctx.call("remote.down");
          },
          privateOuter: {
            visibility: "private",
            handler(ctx) {
              calls.privateOuter += 1;
              return ctx.call("remote.down");
            },
          },
        },
      });
      await broker.start();
    });
    afterAll(() => broker.stop());
    beforeEach(() => {
      clock = 0;
      waited.length = 0;
      timeouts.length = 0;
      Object.assign(calls, { inner: 0, outer: 0, privateOuter: 0 });
    });

    it("calls again with growing jittered delays, without spending a retry, and each attempt has what is left of the timeout", async () => {
      undeliveredLeft = 4;
      await expect(broker.call("remote.send", {}, { timeout: 5_000 })).resolves.toBe("delivered");
      expect(calls.inner).toBe(5);
      expect(waited).toEqual([50, 100, 150, 150]);
      expect(timeouts).toEqual([5_000, 4_950, 4_850, 4_700, 4_550]);
    });

    it("gives up once every call's timeout has passed undelivered (the retry is a call of its own), with the transporter's error", async () => {
      undeliveredLeft = 1_000;
      await expect(broker.call("remote.send", {}, { timeout: 1_000 })).rejects.toBeInstanceOf(Errors.BrokerDisconnectedError);
      // Two calls (retries: 1) of 1 s each, and the retry's delay between them.
      expect(clock).toBe(2_000 + 50);
      expect(timeouts.every((timeout) => timeout !== undefined && timeout !== null && timeout <= 1_000)).toBe(true);
      expect(timeouts.filter((timeout) => timeout === 1_000)).toHaveLength(2);
    });

    it("delivers a retry of a call whose timeout passed undelivered", async () => {
      // The first call's second holds 9 attempts (waits of 50, 100, 150... ms): the 10th is the retry's first.
      undeliveredLeft = 15;
      await expect(broker.call("remote.send", {}, { timeout: 1_000 })).resolves.toBe("delivered");
      expect(timeouts.filter((timeout) => timeout === 1_000)).toHaveLength(2);
    });

    it("waits not at all for a caller that asked for no retries", async () => {
      undeliveredLeft = 1;
      await expect(broker.call("remote.send", {}, { timeout: 1_000, retries: 0 })).rejects.toBeInstanceOf(Errors.BrokerDisconnectedError);
      expect(calls.inner).toBe(1);
    });

    it("does not run a handler again because a call it made failed: that call had its own retries", async () => {
      await expect(broker.call("caller.outer")).rejects.toMatchObject({ type: "DOWN" });
      expect(calls).toEqual({ inner: 2, outer: 1, privateOuter: 0 });
    });

    it("leaves an action alone that cannot be called through the broker (moleculer-web's private `rest`)", async () => {
      const caller = broker.getLocalService("caller");
      await expect(caller.actions.privateOuter!({})).rejects.toMatchObject({ type: "DOWN" });
      expect(calls).toEqual({ inner: 2, outer: 0, privateOuter: 1 });
    });
  });

  /**
   * A started broker with this middleware, whose delays are recorded and pass on a clock of
   * its own instead of being waited (draws of 0.5: half of each cap). As in moleculer.config.ts,
   * without Moleculer's own Retry, which would retry too an action whose own retryPolicy
   * enables retries; with Tracing outside; and with a request timeout, so that a call the
   * middleware wrongly takes for undelivered fails instead of spinning forever.
   */
  async function brokerWith(
    services: ServiceSchema[],
    options: Partial<JitteredRetryOptions> = {},
    brokerOptions: BrokerOptions = {},
  ): Promise<{ broker: ServiceBroker; waited: number[] }> {
    const waited: number[] = [];
    let clock = 0;
    const sleep = async (ms: number) => {
      waited.push(ms);
      clock += ms;
    };
    const retry = JitteredRetryMiddleware({ ...policy, random: () => 0.5, sleep, now: () => clock, ...options });
    const broker = new ServiceBroker({
      logger: false,
      requestTimeout: 10_000,
      ...brokerOptions,
      internalMiddlewares: false,
      middlewares: [retry, "Tracing"],
    });
    for (const service of services) broker.createService(service);
    await broker.start();
    return { broker, waited };
  }

  /** An action failing with a retryable error `failures` times, then answering; `calls` counts its runs. */
  function flaky(failures: number, schema: Pick<ActionSchema, "visibility" | "retryPolicy"> = {}) {
    const action = {
      calls: 0,
      failuresLeft: failures,
      schema: {
        ...schema,
        handler(): string {
          action.calls += 1;
          if (action.failuresLeft-- > 0) throw new Errors.MoleculerRetryableError("down", 503, "DOWN");
          return "ok";
        },
      },
    };
    return action;
  }

  describe("an action's own retryPolicy, over the broker's as Moleculer merges it", () => {
    let broker: ServiceBroker | undefined;
    afterEach(() => broker?.stop());

    it("enabled: false leaves the action alone", async () => {
      const off = flaky(1, { retryPolicy: { enabled: false } });
      const started = await brokerWith([{ name: "svc", actions: { off: off.schema } }]);
      broker = started.broker;
      await expect(broker.call("svc.off")).rejects.toBeInstanceOf(Errors.MoleculerRetryableError);
      expect(off.calls).toBe(1);
      expect(started.waited).toEqual([]);
    });

    it("retries, delay, maxDelay and factor replace the broker's", async () => {
      const own = flaky(10, { retryPolicy: { retries: 2, delay: 1_000, maxDelay: 2_000, factor: 3 } });
      const started = await brokerWith([{ name: "svc", actions: { own: own.schema } }]);
      broker = started.broker;
      await expect(broker.call("svc.own")).rejects.toBeInstanceOf(Errors.MoleculerRetryableError);
      expect(own.calls).toBe(3);
      // Caps of min(2000, 1000 * 3^(n-1)): 1000, then 2000.
      expect(started.waited).toEqual([500, 1_000]);
    });

    it("the caller's retries option still wins over the action's", async () => {
      const own = flaky(10, { retryPolicy: { retries: 2 } });
      broker = (await brokerWith([{ name: "svc", actions: { own: own.schema } }])).broker;
      await expect(broker.call("svc.own", {}, { retries: 4 })).rejects.toBeInstanceOf(Errors.MoleculerRetryableError);
      expect(own.calls).toBe(5);
    });

    it("check replaces the broker's: it may retry a client error and refuse a retryable one", async () => {
      let lockedCalls = 0;
      const down = flaky(10, { retryPolicy: { check: () => false } });
      const check = (error: Error) => error instanceof Errors.MoleculerClientError && error.type === "LOCKED";
      broker = (
        await brokerWith([
          {
            name: "svc",
            actions: {
              locked: {
                retryPolicy: { check },
                handler() {
                  lockedCalls += 1;
                  throw new Errors.MoleculerClientError("locked", 423, "LOCKED");
                },
              },
              down: down.schema,
            },
          },
        ])
      ).broker;
      await expect(broker.call("svc.locked")).rejects.toBeInstanceOf(Errors.MoleculerClientError);
      expect(lockedCalls).toBe(4);
      await expect(broker.call("svc.down")).rejects.toBeInstanceOf(Errors.MoleculerRetryableError);
      expect(down.calls).toBe(1);
    });

    it("enabled: true retries an action where the broker retries none", async () => {
      const own = flaky(10, { retryPolicy: { enabled: true, retries: 2 } });
      const plain = flaky(10);
      broker = (await brokerWith([{ name: "svc", actions: { own: own.schema, plain: plain.schema } }], { retries: 0 })).broker;
      await expect(broker.call("svc.own")).rejects.toBeInstanceOf(Errors.MoleculerRetryableError);
      await expect(broker.call("svc.plain")).rejects.toBeInstanceOf(Errors.MoleculerRetryableError);
      expect([own.calls, plain.calls]).toEqual([3, 1]);
    });
  });

  describe("the retry metric, Moleculer's moleculer.request.retry.attempts.total", () => {
    let broker: ServiceBroker | undefined;
    afterEach(() => broker?.stop());
    const attempts = (of: ServiceBroker, action: string) =>
      of.metrics.getMetric(METRIC.MOLECULER_REQUEST_RETRY_ATTEMPTS_TOTAL)?.get({ service: "svc", action })?.value;

    it("counts every retryable failure by service and action, the one given up on included, as Moleculer does", async () => {
      const recovers = flaky(2);
      const fails = flaky(10);
      let refusedCalls = 0;
      const refused = () => {
        refusedCalls += 1;
        throw new Errors.MoleculerClientError("no", 409, "ORDER_ALREADY_CANCELLED");
      };
      broker = (await brokerWith([{ name: "svc", actions: { recovers: recovers.schema, fails: fails.schema, refused } }], {}, { metrics: { enabled: true } }))
        .broker;
      await expect(broker.call("svc.recovers")).resolves.toBe("ok");
      await expect(broker.call("svc.fails")).rejects.toBeInstanceOf(Errors.MoleculerRetryableError);
      await expect(broker.call("svc.refused")).rejects.toBeInstanceOf(Errors.MoleculerClientError);
      expect([recovers.calls, fails.calls, refusedCalls]).toEqual([3, 4, 1]);
      expect(attempts(broker, "svc.recovers")).toBe(2);
      expect(attempts(broker, "svc.fails")).toBe(4);
      expect(attempts(broker, "svc.refused")).toBeUndefined();
    });

    it("is neither registered nor counted when the broker's metrics are off", async () => {
      const fails = flaky(10);
      broker = (await brokerWith([{ name: "svc", actions: { fails: fails.schema } }])).broker;
      await expect(broker.call("svc.fails")).rejects.toBeInstanceOf(Errors.MoleculerRetryableError);
      expect(fails.calls).toBe(4);
      expect(broker.metrics.getMetric(METRIC.MOLECULER_REQUEST_RETRY_ATTEMPTS_TOTAL)).toBeNull();
    });
  });

  describe("spans, with tracing on", () => {
    let broker: ServiceBroker | undefined;
    afterEach(() => broker?.stop());

    /** The spans of an action's attempts, in the order they finished. */
    async function spansOf(action: ReturnType<typeof flaky>, call: (broker: ServiceBroker) => Promise<unknown>): Promise<Span[]> {
      broker = (await brokerWith([{ name: "svc", actions: { traced: action.schema } }], {}, { tracing: { enabled: true } })).broker;
      const finished = jest.spyOn(broker.tracer, "spanFinished");
      await call(broker).catch(() => undefined);
      return finished.mock.calls.map(([span]) => span).filter((span) => span.name === "action 'svc.traced'");
    }

    it("ends a retried attempt's span as failed, tagged with the number of the retry, as Moleculer does", async () => {
      const traced = flaky(2);
      const spans = await spansOf(traced, (of) => of.call("svc.traced"));
      expect(traced.calls).toBe(3);
      expect(spans.map((span) => [span.error instanceof Errors.MoleculerRetryableError, span.tags.retryAttempts])).toEqual([
        [true, 1],
        [true, 2],
        [false, undefined],
      ]);
      // Siblings of one trace, as Moleculer's retries are, rather than retries inside the first attempt's span.
      expect(new Set(spans.map((span) => span.traceID)).size).toBe(1);
      expect(spans.map((span) => span.parentID)).toEqual([null, null, null]);
    });

    it("leaves the last attempt's span, failed, to the tracing middleware", async () => {
      const traced = flaky(10);
      const spans = await spansOf(traced, (of) => of.call("svc.traced", {}, { retries: 1 }));
      expect(traced.calls).toBe(2);
      expect(spans.map((span) => [span.error instanceof Errors.MoleculerRetryableError, span.tags.retryAttempts])).toEqual([
        [true, 1],
        [true, undefined],
      ]);
    });
  });

  describe("private actions", () => {
    let broker: ServiceBroker | undefined;
    afterEach(() => broker?.stop());

    it("retries one whose own retryPolicy enables it, through its service (the broker does not know it)", async () => {
      const hidden = flaky(2, { visibility: "private", retryPolicy: { enabled: true } });
      const started = await brokerWith([{ name: "svc", actions: { hidden: hidden.schema } }]);
      broker = started.broker;
      await expect(broker.getLocalService("svc").actions.hidden!({})).resolves.toBe("ok");
      expect(hidden.calls).toBe(3);
      expect(started.waited).toEqual([50, 100]);
    });

    it("leaves one alone otherwise, as moleculer-web's `rest` must be", async () => {
      const hidden = flaky(2, { visibility: "private" });
      const started = await brokerWith([{ name: "svc", actions: { hidden: hidden.schema } }]);
      broker = started.broker;
      await expect(broker.getLocalService("svc").actions.hidden!({})).rejects.toBeInstanceOf(Errors.MoleculerRetryableError);
      expect(hidden.calls).toBe(1);
      expect(started.waited).toEqual([]);
    });
  });

  describe("isUndelivered", () => {
    it("is the transit's refusal and a missing endpoint of the called action, raised on this node", () => {
      expect(isUndelivered(transitDisconnected(), "orders.create")).toBe(true);
      expect(isUndelivered(new Errors.ServiceNotAvailableError({ action: "orders.create" }), "orders.create")).toBe(true);
      expect(isUndelivered(new Errors.ServiceNotFoundError({ action: "orders.create" }), "orders.create")).toBe(true);
    });

    it("is not a failure that may have run the action, nor another action's, nor another node's", () => {
      expect(isUndelivered(new Errors.RequestTimeoutError({ action: "orders.create", nodeID: "orders" }), "orders.create")).toBe(false);
      expect(isUndelivered(new Errors.MoleculerRetryableError("down", 503), "orders.create")).toBe(false);
      expect(isUndelivered(new Errors.ServiceNotAvailableError({ action: "payments.authorize" }), "orders.create")).toBe(false);
      const remote = Object.assign(transitDisconnected(), { nodeID: "payments" });
      expect(isUndelivered(remote, "orders.create")).toBe(false);
    });
  });
});

import { Errors, ServiceBroker } from "moleculer";
import { JitteredRetryMiddleware, isUndelivered, jitteredDelay } from "../../middlewares/jittered-retry";

const policy = { retries: 3, delayMs: 100, maxDelayMs: 300, factor: 2 };

/** What Moleculer's transit throws while the transporter reconnects (its typings ask for a message it ignores). */
const transitDisconnected = () => new Errors.BrokerDisconnectedError("disconnected");

describe("jittered retry", () => {
  it("draws each delay in [0, min(max, delay * factor^(n-1))]", () => {
    expect([1, 2, 3, 4].map((attempt) => jitteredDelay(attempt, policy, () => 0.999999))).toEqual([99, 199, 299, 299]);
    expect([1, 2, 3].map((attempt) => jitteredDelay(attempt, policy, () => 0.5))).toEqual([50, 100, 150]);
    expect(jitteredDelay(3, policy, () => 0)).toBe(0);
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
    const timeouts: Array<number | null | undefined> = [];
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
      const caller = broker.getLocalService("caller")!;
      await expect(caller.actions.privateOuter!({})).rejects.toMatchObject({ type: "DOWN" });
      expect(calls).toEqual({ inner: 2, outer: 0, privateOuter: 1 });
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

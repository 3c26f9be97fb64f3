import { Errors, ServiceBroker } from "moleculer";
import { JitteredRetryMiddleware, jitteredDelay } from "../../middlewares/jittered-retry";

const policy = { retries: 3, delayMs: 100, maxDelayMs: 300, factor: 2 };

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
});

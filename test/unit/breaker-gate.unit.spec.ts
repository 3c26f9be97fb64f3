import { Errors, ServiceBroker } from "moleculer";
import { breakerGate } from "../../services/orchestrator/kill-switch";
import { breakersOf } from "../../services/resilience/breakers";

/** Reads the gate from Moleculer's own circuit breaker, driven through its states for real. */
describe("breakerGate reads Moleculer's circuit breaker", () => {
  let broker: ServiceBroker;
  let failing = true;
  /** Holds a call inside the action while the test looks at the breaker. */
  let hold: Promise<void> | undefined;

  beforeAll(async () => {
    broker = new ServiceBroker({
      logger: false,
      circuitBreaker: { enabled: true, threshold: 0.5, minRequestCount: 2, windowTime: 60, halfOpenTime: 100, check: () => true },
    });
    broker.createService({
      name: "participant",
      actions: {
        async work() {
          if (hold) await hold;
          if (failing) throw new Errors.MoleculerRetryableError("down", 503);
          return "ok";
        },
      },
    });
    await broker.start();
  });
  afterAll(() => broker.stop());

  const call = () => broker.call("participant.work").catch(() => undefined);

  it("closed, open, half-open, open while the trial runs, closed after it", async () => {
    expect(breakerGate(broker, "participant.work")).toBe("closed");
    await call();
    await call();
    expect(breakerGate(broker, "participant.work")).toBe("open");

    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(breakerGate(broker, "participant.work")).toBe("half-open");

    failing = false;
    let release!: () => void;
    hold = new Promise<void>((resolve) => (release = resolve));
    const trial = broker.call("participant.work");
    await new Promise((resolve) => setImmediate(resolve));
    expect(breakerGate(broker, "participant.work")).toBe("open"); // HALF_OPEN_WAIT: calls fail fast, no event yet
    hold = undefined;
    release();
    await expect(trial).resolves.toBe("ok");
    expect(breakerGate(broker, "participant.work")).toBe("closed");
    expect(breakerGate(broker, "nobody.called")).toBe("closed");
    expect(breakersOf(broker)).toEqual([{ endpoint: { nodeID: broker.nodeID, action: "participant.work" }, state: "closed", count: 0, failures: 0 }]);
  });

  it("fails loudly on a store it does not know, rather than taking every breaker for closed", () => {
    const store = Reflect.get(broker, "CircuitBreakerStore") as Map<string, unknown>;
    store.set("renamed", { endpoint: { id: broker.nodeID }, status: "CLOSED" });
    try {
      expect(() => breakerGate(broker, "participant.work")).toThrow("a shape this code does not know");
    } finally {
      store.delete("renamed");
    }
  });
});

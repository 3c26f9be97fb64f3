import { randomUUID } from "node:crypto";
import { Context, Errors, ServiceBroker } from "moleculer";
import { loadConfig } from "../../config";
import { brokerOptions } from "../../moleculer.config";
import { breakersOf } from "../../services/resilience/breakers";
import { RABBITMQ_URL, deleteRabbitMqObjects } from "../support/rabbitmq";

/**
 * Two nodes over RabbitMQ with the app's broker options: a participant that fails every call
 * opens the breaker of the node that calls it, and never its own, which would make it refuse
 * every request, even the next caller's trial, as "not available".
 */
describe("circuit breakers live on the calling side", () => {
  const namespace = `test-${randomUUID()}`;
  const config = loadConfig({
    TRANSPORTER: RABBITMQ_URL,
    BUS_NAMESPACE: namespace,
    METRICS_PORT: "0",
    RETRY_RETRIES: "0",
    BREAKER_MIN_REQUESTS: "3",
    BREAKER_THRESHOLD: "0.5",
    BREAKER_HALF_OPEN_MS: "60000",
  });
  let callee: ServiceBroker;
  let caller: ServiceBroker;
  let failing = true;
  let served = 0;

  beforeAll(async () => {
    callee = new ServiceBroker({ ...brokerOptions(config), nodeID: `callee-${namespace}`, logger: false });
    callee.createService({
      name: "flaky",
      actions: {
        work(_ctx: Context) {
          served += 1;
          if (failing) throw new Errors.MoleculerRetryableError("down on purpose", 503);
          return "ok";
        },
      },
    });
    caller = new ServiceBroker({ ...brokerOptions(config), nodeID: `caller-${namespace}`, logger: false });
    await Promise.all([callee.start(), caller.start()]);
    await caller.waitForServices("flaky", 10_000);
  });
  afterAll(async () => {
    await Promise.all([caller?.stop(), callee?.stop()]);
    await deleteRabbitMqObjects(RABBITMQ_URL, `MOL-${namespace}`);
  });

  it("opens the caller's breaker, not the callee's: the callee goes on serving whoever calls it", async () => {
    for (let call = 0; call < 5; call += 1) await caller.call("flaky.work").catch(() => undefined);

    expect(breakersOf(caller)).toEqual([expect.objectContaining({ endpoint: { nodeID: callee.nodeID, action: "flaky.work" }, state: "open" })]);
    // The caller's breaker refused the last calls itself: they never reached the callee.
    expect(served).toBe(3);
    expect(breakersOf(callee).filter((breaker) => breaker.state !== "closed")).toEqual([]);

    // Another caller, whose breaker is closed, is served at once.
    failing = false;
    const other = new ServiceBroker({ ...brokerOptions(config), nodeID: `other-${namespace}`, logger: false });
    await other.start();
    try {
      await other.waitForServices("flaky", 10_000);
      await expect(other.call("flaky.work")).resolves.toBe("ok");
    } finally {
      await other.stop();
    }
  });
});

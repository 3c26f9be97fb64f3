import { setTimeout as sleep } from "node:timers/promises";
import { rabbitMqAnswers, rabbitmqctl } from "../../tools/cluster/rabbitmq-control";
import { waitFor } from "../../tools/wait-for";
import { clusterPerTest } from "../support/cluster-harness";
import { RABBITMQ_URL } from "../support/rabbitmq";

/** How long RabbitMQ's application stays stopped. */
const STOPPED_MS = 3_000;
/**
 * What one call may wait. A request caught by the stop is lost with RabbitMQ's queues: it waits
 * out its timeout, and its retry waits for delivery. The restart (stop_app, 3 s, start_app:
 * about 5 s here) is shorter than what a request may wait: RETRY_RETRIES + 1 (3) calls of this.
 */
const REQUEST_TIMEOUT_MS = 4_000;
/** Orders posted before the restart, and at least this many after RabbitMQ answers again. */
const ORDERS_AROUND = 5;

interface Answer {
  index: number;
  status: number | "dropped";
  id?: string;
  error?: string;
  ms: number;
}

/**
 * A client as plain as they come: one POST after the other, no Idempotency-Key, no retry, and
 * every answer recorded. Whatever the cluster does about the restart, this client must not see it.
 */
async function post(baseUrl: string, index: number): Promise<Answer> {
  const started = Date.now();
  const body = { customerId: `c-${index % 7}`, currency: "EUR", items: [{ productId: "p", quantity: 1, unitPrice: 1000 + index }] };
  try {
    const response = await fetch(`${baseUrl}/orders`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    const answer = (await response.json()) as { id?: string; type?: string };
    return { index, status: response.status, id: answer.id, error: answer.type, ms: Date.now() - started };
  } catch (error) {
    return { index, status: "dropped", error: String((error as Error).cause ?? error), ms: Date.now() - started };
  }
}

describe("a RabbitMQ restart is not the client's problem", () => {
  const clusters = clusterPerTest();

  it(`orders posted one after another through a ${STOPPED_MS / 1000} s stop_app/start_app are all answered 201, each makes one order, and all settle`, async () => {
    const harness = await clusters.start("cluster-broker-restart-client", { LOG_LEVEL: "info", REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS) });
    const running = harness;
    const answers: Answer[] = [];
    const restart = { done: false };
    let postedSinceBack = 0;

    const restarted = (async () => {
      await waitFor(() => answers.length >= ORDERS_AROUND, { timeoutMs: 20_000, what: "the first orders" });
      await rabbitmqctl("stop_app");
      await sleep(STOPPED_MS);
      await rabbitmqctl("start_app");
      await waitFor(() => rabbitMqAnswers(RABBITMQ_URL), { timeoutMs: 30_000, intervalMs: 100, what: "RabbitMQ to answer again" });
      restart.done = true;
    })();
    // Posts until the restart is over and a few more orders went through after it.
    for (let index = 0; !restart.done || postedSinceBack < ORDERS_AROUND; index += 1) {
      answers.push(await post(running.baseUrl, index));
      if (restart.done) postedSinceBack += 1;
    }
    await restarted;

    const failed = answers.filter((answer) => answer.status !== 201);
    expect(failed).toEqual([]);
    const ids = answers.map((answer) => answer.id);
    expect(new Set(ids).size).toBe(answers.length);
    // One order per answer: nothing created twice by a retry inside the cluster.
    await waitFor(async () => (await running.log.countOfType("OrderCreated")) >= answers.length, { timeoutMs: 10_000, what: "every order in the log" });
    expect(await running.log.countOfType("OrderCreated")).toBe(answers.length);
    await running.waitUntilSettled(answers.length, 30_000);
    expect(await running.log.terminalOrders()).toBe(answers.length);
  }, 90_000);
});

import { Context } from "moleculer";
import { waitFor } from "../../tools/wait-for";
import { busFixtures } from "../support/buses";
import { EmbeddedApp, startEmbeddedApp } from "../support/embedded-app";

const ADMIN = { authorization: "Bearer replay-after-fix-token", "content-type": "application/json" };
/** Failing calls after which antifraud's breaker opens: the first orders die before it does. */
const BREAKER_MIN_REQUESTS = 8;
const ATTEMPTS = 2;
const HALF_OPEN_MS = 3000;
/** Orders dead-lettered one by one while the breaker is closed (ATTEMPTS failed calls each). */
const DEAD_BEFORE_OPEN = 3;
const ORDERS = 10;

const placement = (index: number) => ({ customerId: `fix-${index}`, currency: "EUR", items: [{ productId: "p", quantity: 1, unitPrice: 500 + index }] });

interface DeadLetterSummary {
  id: string;
  orderId: string;
  status: string;
  deaths: number;
  replays: number;
}

describe.each(busFixtures)("a replay pressed right after the fix, on the $name", (bus) => {
  let app: EmbeddedApp;
  let namespace: string;
  const breakerOpenedAt: number[] = [];

  beforeEach(async () => {
    breakerOpenedAt.length = 0;
    const env: Record<string, string> = {
      ...bus.env(),
      ANTIFRAUD_CHAOS_FAILURE_RATE: "1",
      BUS_RETRY_ATTEMPTS: String(ATTEMPTS),
      BUS_RETRY_BASE_MS: "20",
      BUS_RETRY_MAX_MS: "50",
      RETRY_RETRIES: "0",
      BREAKER_MIN_REQUESTS: String(BREAKER_MIN_REQUESTS),
      BREAKER_THRESHOLD: "0.5",
      BREAKER_WINDOW_S: "120",
      BREAKER_HALF_OPEN_MS: String(HALF_OPEN_MS),
      ADMIN_TOKEN: "replay-after-fix-token",
    };
    namespace = env.BUS_NAMESPACE!;
    app = await startEmbeddedApp({
      env,
      mods: {
        orchestrator: {
          events: {
            "$circuit-breaker.opened"(ctx: Context<{ action: string }>) {
              if (ctx.params.action === "antifraud.check") breakerOpenedAt.push(Date.now());
            },
          },
        },
      },
    });
  });
  afterEach(async () => {
    await app.stop();
    await bus.cleanUp(namespace, ["orchestrator"]);
  });

  async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = { "content-type": "application/json" }) {
    const response = await fetch(`${app.baseUrl}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : undefined };
  }
  const place = async (index: number): Promise<string> => {
    const created = await call("POST", "/orders", placement(index));
    expect(created.status).toBe(201);
    return created.body.id as string;
  };
  const deadLetters = async (): Promise<DeadLetterSummary[]> => (await call("GET", "/dlq?limit=100")).body.items;
  const dead = async () => (await deadLetters()).filter((entry) => entry.status === "dead");
  const antifraudBreaker = async (): Promise<string | undefined> =>
    (await call("GET", "/resilience")).body.breakers.find((breaker: { endpoint: { action: string } }) => breaker.endpoint.action === "antifraud.check")?.state;
  const statusOf = async (id: string): Promise<string> => (await call("GET", `/orders/${id}`)).body.status;

  it("confirms every replayed order and dead-letters none again, while the breaker is still open", async () => {
    // Antifraud fails every call: the first orders spend their attempts while the breaker is
    // still closed and die; then it opens, and the orders after them wait.
    const orders: string[] = [];
    for (let index = 0; index < DEAD_BEFORE_OPEN; index += 1) {
      orders.push(await place(index));
      await waitFor(async () => (await dead()).length === index + 1, { what: `order ${index} in the DLQ` });
    }
    for (let index = DEAD_BEFORE_OPEN; index < ORDERS; index += 1) orders.push(await place(index));
    await waitFor(() => breakerOpenedAt.length > 0, { what: "antifraud's breaker to open" });

    // The operator fixes antifraud and presses "Replay all" at once: the breaker has just opened.
    expect((await call("PUT", "/chaos/antifraud", { failureRate: 0 }, ADMIN)).status).toBe(200);
    const started = await call("POST", "/dlq/replay", {}, ADMIN);
    expect(started.status).toBe(202);
    const replay = await waitFor(async () => {
      const job = (await call("GET", `/dlq/jobs/${started.body.id}`)).body;
      return job.status === "running" ? undefined : job;
    });
    expect(Date.now() - breakerOpenedAt[0]!).toBeLessThan(HALF_OPEN_MS / 2);
    expect(await antifraudBreaker()).not.toBe("closed");
    expect(replay).toMatchObject({ status: "done", skipped: 0, failed: 0 });
    expect(replay.replayed).toBeGreaterThanOrEqual(DEAD_BEFORE_OPEN);

    // Every order confirms: the replayed ones and those that waited while the breaker was open.
    await waitFor(async () => (await Promise.all(orders.map(statusOf))).every((status) => status === "confirmed"), {
      timeoutMs: HALF_OPEN_MS + 10_000,
      what: "every order to be confirmed",
    }).catch(() => undefined);
    const entries = (await deadLetters()).map(({ status, deaths, replays }) => ({ status, deaths, replays }));
    expect(entries).toEqual(entries.map(() => ({ status: "replayed", deaths: 1, replays: 1 })));
    expect(entries).toHaveLength(replay.replayed);
    expect(await Promise.all(orders.map(statusOf))).toEqual(orders.map(() => "confirmed"));
    expect(await antifraudBreaker()).toBe("closed");
  }, 40_000);
});

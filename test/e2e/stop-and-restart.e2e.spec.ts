import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { waitFor } from "../../tools/wait-for";
import { AppProcess, startAppProcess, stopAppProcess } from "../support/app-process";
import { OrderLedger, orderLedger } from "../support/order-ledger";

/** Orders posted per run: a few thousand, faster than the sagas settle. */
const ORDERS = 3000;
const IN_FLIGHT = 64;
/** Sagas that must still be unsettled when the process is stopped, or the test shows nothing. */
const MIN_QUEUED = 200;
/** How long the restarted process has to settle the backlog (about 1,000 sagas/s here). */
const SETTLE_WITHIN_MS = 25_000;

const order = (index: number) => ({
  customerId: `crash-${index % 50}`,
  currency: "EUR",
  items: [{ productId: "p", quantity: 1, unitPrice: 1000 + index }],
});

/**
 * Posts `count` orders, `inFlight` at a time, and returns the ids that got a 201. A worker
 * whose request fails (the process was killed) stops: its order may or may not be in the log.
 */
async function postOrders(baseUrl: string, count: number, onAcknowledged?: (acknowledged: number) => void): Promise<string[]> {
  const acknowledged: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < count) {
        const index = next++;
        const response = await fetch(`${baseUrl}/orders`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(order(index)),
        }).catch(() => undefined);
        if (!response) return;
        const body = (await response.json().catch(() => ({}))) as { id?: string };
        if (response.status !== 201 || !body.id) throw new Error(`POST /orders answered ${response.status}: ${JSON.stringify(body)}`);
        acknowledged.push(body.id);
        onAcknowledged?.(acknowledged.length);
      }
    }),
  );
  return acknowledged;
}

describe("npm start (memory bus, SQLite store) stopped under load, then started again on the same store", () => {
  let dir: string;
  let path: string;
  const running: AppProcess[] = [];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "glitchbuster-restart-"));
    path = join(dir, "events.db");
  });
  afterEach(async () => {
    for (const app of running.splice(0)) await stopAppProcess(app, "SIGKILL").catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  /**
   * Antifraud fails a fifth of its calls and a message has two attempts without a broker-level
   * retry: a few sagas (about 4 %) end in the DLQ, so the ledger shows that path too.
   */
  const WEATHER = { ANTIFRAUD_CHAOS_FAILURE_RATE: "0.2", BUS_RETRY_ATTEMPTS: "2", BUS_RETRY_BASE_MS: "20", RETRY_RETRIES: "0" };

  const start = async () => {
    const app = await startAppProcess({ EVENT_STORE_URL: `sqlite:${path}`, ...WEATHER });
    running.push(app);
    return app;
  };

  /** Starts the process again on the same store and waits until every acknowledged order is settled or dead. */
  async function restartAndSettle(acknowledged: readonly string[]): Promise<OrderLedger> {
    const again = await start();
    await waitFor(() => orderLedger(path, acknowledged).unsettledInLog === 0, { timeoutMs: SETTLE_WITHIN_MS, intervalMs: 250 }).catch(() => undefined);
    const ledger = orderLedger(path, acknowledged);
    const stopped = await stopAppProcess(again, "SIGTERM");
    expect(stopped.code).toBe(0);
    return ledger;
  }

  it("SIGTERM with sagas queued: after the restart every acknowledged order is settled or in the DLQ", async () => {
    const first = await start();
    const acknowledged = await postOrders(first.baseUrl, ORDERS);
    const atStop = orderLedger(path, acknowledged);

    const stopped = await stopAppProcess(first, "SIGTERM", 20_000);

    expect(atStop.acknowledged).toBe(ORDERS);
    expect(atStop.lost).toBeGreaterThanOrEqual(MIN_QUEUED);
    // A graceful stop finishes what is in flight, or hands it back, within a bounded time.
    expect(stopped).toMatchObject({ code: 0, signal: null });
    expect(stopped.ms).toBeLessThan(15_000);
    const ledger = await restartAndSettle(acknowledged);
    process.stdout.write(`SIGTERM ledger: ${JSON.stringify({ ...ledger, queuedAtStop: atStop.lost, stopMs: stopped.ms })}\n`);
    expect(ledger).toMatchObject({ acknowledged: ORDERS, lost: 0, lostIds: [], unsettledInLog: 0 });
    expect(ledger.terminal + ledger.deadLettered).toBe(ORDERS);
  }, 90_000);

  it("kill -9 mid-load: after the restart every acknowledged order is settled or in the DLQ", async () => {
    const first = await start();
    const acknowledged = await postOrders(first.baseUrl, ORDERS, (count) => {
      if (count === ORDERS / 2) first.child.kill("SIGKILL");
    });
    await first.exited;
    const atKill = orderLedger(path, acknowledged);

    expect(atKill.acknowledged).toBeGreaterThanOrEqual(ORDERS / 2);
    expect(atKill.lost).toBeGreaterThanOrEqual(MIN_QUEUED);
    const ledger = await restartAndSettle(acknowledged);
    // The crash ledger (acknowledged, terminal, dead-lettered, lost), as the README reports it.
    process.stdout.write(`kill -9 ledger: ${JSON.stringify({ ...ledger, queuedAtKill: atKill.lost })}\n`);
    // Orders appended whose 201 the kill cut off are settled too.
    expect(ledger).toMatchObject({ lost: 0, lostIds: [], unsettledInLog: 0 });
    expect(ledger.terminal + ledger.deadLettered).toBe(acknowledged.length);
  }, 90_000);
});

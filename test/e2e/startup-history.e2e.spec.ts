import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startAppProcess, stopAppProcess } from "../support/app-process";
import { seedOrders } from "../support/seed-orders";

const ORDERS = 20_000;
/** Starts per store; the fastest counts (the first pays for cold caches). */
const STARTS = 2;
/**
 * Order of magnitude only: before the read models moved into the database, 20,000 orders took
 * 2.4 s to healthy against 0.65 s empty (DESIGN.md §7), every start folding the whole log.
 */
const FACTOR = 2;
const SLACK_MS = 500;

async function fastestStart(path: string): Promise<number> {
  let fastest = Number.POSITIVE_INFINITY;
  for (let start = 0; start < STARTS; start += 1) {
    const began = performance.now();
    const app = await startAppProcess({ EVENT_STORE_URL: `sqlite:${path}` });
    fastest = Math.min(fastest, performance.now() - began);
    await stopAppProcess(app, "SIGTERM");
  }
  return fastest;
}

describe("start-up with history (npm start, SQLite store)", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "glitchbuster-startup-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it(`is healthy as soon with ${ORDERS.toLocaleString("en")} orders in the store as with none`, async () => {
    const empty = join(dir, "empty.db");
    const seeded = join(dir, "seeded.db");
    await seedOrders(seeded, ORDERS);

    const emptyMs = await fastestStart(empty);
    const seededMs = await fastestStart(seeded);

    console.info(`time to healthy: ${Math.round(emptyMs)} ms empty, ${Math.round(seededMs)} ms with ${ORDERS} orders`);
    expect(seededMs).toBeLessThan(emptyMs * FACTOR + SLACK_MS);
  }, 120_000);
});

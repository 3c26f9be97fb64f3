import { randomUUID } from "node:crypto";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { Browser, Page } from "playwright-core";
import { EmbeddedApp, startEmbeddedApp } from "../support/embedded-app";
import { CHROMIUM, launchChromium } from "../support/browser";

/**
 * The dashboard in a real browser (Debian's chromium, which .ci/run installs when it is
 * missing): an incident from the operator's side, screenshots in test-artifacts/.
 */

const TOKEN = "dashboard-test-token";
const ARTIFACTS = join(__dirname, "..", "..", "test-artifacts");
const ORDERS = 6;

type Chaos = { antifraud: { failureRate: number } };

describe("dashboard in chromium (embedded app)", () => {
  let app: EmbeddedApp;
  let browser: Browser;
  let page: Page;
  let root: string;

  beforeAll(async () => {
    expect(existsSync(CHROMIUM)).toBe(true);
    mkdirSync(ARTIFACTS, { recursive: true });
    app = await startEmbeddedApp({
      env: {
        ADMIN_TOKEN: TOKEN,
        BUS_NAMESPACE: `test-${randomUUID()}`,
        // Two attempts, and the breaker opens at the 8th failed call: 7 failures of 6 orders
        // before it means one order at least spent both attempts and died, so the DLQ has
        // something to show; the others wait for antifraud (the kill switch).
        BUS_RETRY_ATTEMPTS: "2",
        BUS_RETRY_BASE_MS: "20",
        BUS_RETRY_MAX_MS: "100",
        RETRY_RETRIES: "0",
        BREAKER_MIN_REQUESTS: "8",
        BREAKER_HALF_OPEN_MS: "1500",
      },
    });
    root = app.baseUrl.replace(/\/api$/, "");
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  });
  afterAll(async () => {
    await browser?.close();
    await app?.stop();
  });

  const breakerState = (action: string) =>
    page
      .locator("#breakers tbody tr", { has: page.locator("td", { hasText: action }) })
      .locator("td")
      .nth(2);

  it("shows the orders, breakers, chaos and DLQ read-only, without the admin token", async () => {
    await page.goto(root);

    await page.locator("#connection", { hasText: "live" }).waitFor();
    await page.locator('[data-count="confirmed"] b', { hasText: "0" }).waitFor();
    await page.locator('form[data-service="antifraud"]').waitFor();
    await page.locator("#replay-all").click();
    await page.locator("#message", { hasText: "admin token" }).waitFor();
  });

  it("lives through an incident: chaos at 100 %, the first orders die and the breaker opens, the rest wait; chaos off, replay at once, every order confirmed", async () => {
    await page.fill("#token", TOKEN);
    const antifraud = page.locator('form[data-service="antifraud"]');
    await antifraud.locator('input[name="failureRate"]').fill("1");
    await antifraud.locator("button").click();
    await page.waitForFunction(async () => ((await (await fetch("/api/chaos")).json()) as Chaos).antifraud.failureRate === 1);

    const ids: string[] = [];
    for (let index = 0; index < ORDERS; index += 1) {
      const response = await fetch(`${app.baseUrl}/orders`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ customerId: `c-${index}`, currency: "EUR", items: [{ productId: "p", quantity: 1, unitPrice: 100 }] }),
      });
      ids.push(((await response.json()) as { id: string }).id);
    }

    await breakerState("antifraud.check")
      .filter({ hasText: /^open$/ })
      .waitFor({ timeout: 15_000 });
    await page.locator("#dlq tbody tr").first().waitFor({ timeout: 15_000 });
    await page
      .locator("#redeliveries tbody tr td", { hasText: /^\d+ ms$/ })
      .first()
      .waitFor();
    // The dead letters grouped by their cause: one group, antifraud's chaos failure.
    await page.locator("#dlq-groups tbody tr td", { hasText: "MoleculerRetryableError: chaos: antifraud failed on purpose" }).first().waitFor();
    // Sagas whose messages died, or that wait on the breaker, are listed once they run for 5 s.
    const stuck = page.locator("#stuck tbody tr", { has: page.locator("td", { hasText: /^waiting for antifraud\.check$/ }) });
    await stuck.first().waitFor({ timeout: 15_000 });
    await page.screenshot({ path: join(ARTIFACTS, "dashboard-incident.png"), fullPage: true });

    // An operator retries one now; the reason asked for is kept with the saga, under the token's name.
    const retried = (await stuck.first().locator("td").first().textContent())!;
    page.once("dialog", (dialog) => void dialog.accept("checking the retry button"));
    await stuck.first().locator("button", { hasText: "Retry" }).click();
    await page.waitForFunction(async (orderId) => {
      const saga = (await (await fetch(`/api/sagas/${orderId}`)).json()) as { timeline: { event: string; by?: string; reason?: string }[] };
      return saga.timeline.some((entry) => entry.event === "SagaRetryRequested" && entry.by === "admin" && entry.reason === "checking the retry button");
    }, retried);

    await antifraud.locator('input[name="failureRate"]').fill("0");
    await antifraud.locator("button").click();
    await page.waitForFunction(async () => ((await (await fetch("/api/chaos")).json()) as Chaos).antifraud.failureRate === 0);
    // Replay at once, with the breaker still open: the replayed messages wait for it, unspent.
    await page.locator("#replay-all").click();
    await page.locator("#dlq-jobs .job", { hasText: /replay job (running|done)/ }).waitFor();

    await page.locator('[data-count="confirmed"] b', { hasText: String(ORDERS) }).waitFor({ timeout: 15_000 });
    await page.locator("#dlq-jobs .job", { hasText: /replay job done/ }).waitFor();
    await page.locator("#dlq tbody tr").first().waitFor({ state: "detached" });
    await page.fill("#saga-order", ids[0]!);
    await page.locator("#saga-form button").click();
    await page.locator("#saga p", { hasText: "ended: confirmed" }).waitFor();
    await page.screenshot({ path: join(ARTIFACTS, "dashboard-recovered.png"), fullPage: true });
  });
});

import Ajv2020 from "ajv/dist/2020";
import { randomUUID } from "node:crypto";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { Browser, Page } from "playwright-core";
import { OpenApiDocument } from "../../services/api/openapi";
import type { StoredTrace } from "../../tracing/trace-store";
import { waitFor } from "../../tools/wait-for";
import { EmbeddedApp, startEmbeddedApp } from "../support/embedded-app";
import { CHROMIUM, launchChromium } from "../support/browser";
import { orderTrace } from "../support/traces";

/**
 * An order's trace from the operator's side: the saga view of the dashboard draws it as a
 * waterfall from GET /api/traces/:traceId (Debian's chromium, as in dashboard.e2e.spec.ts).
 * The screenshot lands in test-artifacts/; docs/tracing-waterfall.png is a copy of it.
 */

const TOKEN = "trace-waterfall-token";
const ARTIFACTS = join(__dirname, "..", "..", "test-artifacts");
const placement = { customerId: "c-trace", currency: "EUR", items: [{ productId: "book", quantity: 2, unitPrice: 1250 }] };

/** The work of one order that its trace shows, as the waterfall labels it ("service · name"). */
const ORDER_WORK = [/orders\.create/, /consume OrderCreated/, /antifraud\.check/, /payments\.authorize/];

describe("an order's trace as a waterfall in the dashboard (embedded app, chromium)", () => {
  let app: EmbeddedApp;
  let browser: Browser;
  let page: Page;
  let root: string;
  /** Calls of antifraud.check that failed, as antifraud saw them. */
  const antifraudFailures: string[] = [];

  beforeAll(async () => {
    expect(existsSync(CHROMIUM)).toBe(true);
    mkdirSync(ARTIFACTS, { recursive: true });
    app = await startEmbeddedApp({
      env: {
        ADMIN_TOKEN: TOKEN,
        BUS_NAMESPACE: `test-${randomUUID()}`,
        TRACING: "on",
        TRACING_SAMPLE_RATE: "1",
        // A failed check is redelivered by the bus (a linked span), not retried within the call.
        RETRY_RETRIES: "0",
        BUS_RETRY_BASE_MS: "300",
        BUS_RETRY_MAX_MS: "300",
        BREAKER_MIN_REQUESTS: "100",
      },
      mods: {
        antifraud: {
          hooks: {
            error: {
              check(_ctx: unknown, error: Error) {
                antifraudFailures.push(error.message);
                throw error;
              },
            },
          },
        },
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

  const get = async <T>(path: string): Promise<{ status: number; body: T }> => {
    const response = await fetch(`${app.baseUrl}${path}`);
    return { status: response.status, body: (await response.json()) as T };
  };

  it("draws the order's spans nested under their parents, and shows the later ones on Refresh", async () => {
    const created = await fetch(`${app.baseUrl}/orders`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(placement) });
    const { id: orderId } = (await created.json()) as { id: string };
    const saga = await waitFor(
      async () => {
        const { body } = await get<{ status: string; traceId?: string | null }>(`/sagas/${orderId}`);
        return body.status === "ended" && body;
      },
      { what: "the saga to end" },
    );
    expect(saga.traceId).toMatch(/^[0-9a-f]{32}$/);
    const traceId = saga.traceId!;

    // Opened at once: the spans of the saga's last steps are still on their way to the collector.
    await page.goto(root);
    await page.fill("#saga-order", orderId);
    await page.locator("#saga-form button").click();
    await page.locator("#trace h3 code", { hasText: traceId }).waitFor();

    const spans = await orderTrace(app.baseUrl, traceId);
    await page.locator("#trace-refresh").click();

    const rows = page.locator("#trace .span-row[data-span-id]");
    await rows.nth(spans.length - 1).waitFor();
    const drawn = await rows.evaluateAll((elements) =>
      elements.map((element) => ({
        id: element.getAttribute("data-span-id") ?? "",
        depth: Number(element.getAttribute("data-depth")),
        label: element.querySelector(".span-label")?.firstChild?.textContent ?? "",
      })),
    );
    expect(drawn.map(({ label }) => label).sort()).toEqual(spans.map((span) => `${span.service} · ${span.name}`).sort());
    for (const work of ORDER_WORK) expect([work, drawn.some(({ label }) => work.test(label))]).toEqual([work, true]);
    // Each child is one step deeper than its parent, and drawn below it.
    const row = new Map(drawn.map((line, index) => [line.id, { ...line, index }]));
    const children = spans.filter((span) => span.parentId !== null && row.has(span.parentId));
    expect(children.length).toBe(spans.length - 1);
    for (const child of children) {
      const [drawnChild, drawnParent] = [row.get(child.id)!, row.get(child.parentId!)!];
      expect([child.name, drawnChild.index > drawnParent.index, drawnChild.depth]).toEqual([child.name, true, drawnParent.depth + 1]);
    }
  });

  it("shows a failed attempt in red with the fault injected into it, and the redelivery that followed it as a retry of it", async () => {
    const traceId = randomUUID().replaceAll("-", "");
    const admin = { "content-type": "application/json", authorization: `Bearer ${TOKEN}` };
    const failChecks = (failureRate: number) =>
      fetch(`${app.baseUrl}/chaos/antifraud`, { method: "PUT", headers: admin, body: JSON.stringify({ failureRate }) });
    await failChecks(1);
    const created = await fetch(`${app.baseUrl}/orders`, {
      method: "POST",
      // The client's own trace: the order's spans join it.
      headers: { "content-type": "application/json", traceparent: `00-${traceId}-b7ad6b7169203331-01` },
      body: JSON.stringify(placement),
    });
    const { id: orderId } = (await created.json()) as { id: string };
    await waitFor(() => antifraudFailures.length > 0, { what: "a check to fail" });
    await failChecks(0);
    const trace = await waitFor(
      async () => {
        const { status, body } = await get<StoredTrace>(`/traces/${traceId}`);
        return (
          status === 200 && body.spans.some((span) => span.links.length > 0) && body.spans.some((span) => span.name.includes("payments.authorize")) && body
        );
      },
      { what: "the redelivery's spans" },
    );
    const failedCheck = trace.spans.find((span) => span.error !== null && span.events.some((event) => event.name === "chaos.injected"))!;

    await page.fill("#saga-order", orderId);
    await page.locator("#saga-form button").click();
    await page.locator("#trace h3 code", { hasText: traceId }).waitFor();
    const failedRow = page.locator(`#trace .span-row.error[data-span-id="${failedCheck.id}"]`);
    await failedRow.waitFor();

    expect(await failedRow.locator(".span-label").textContent()).toBe(`${failedCheck.service} · ${failedCheck.name}`);
    expect(await failedRow.locator(".span-bar").getAttribute("title")).toBe(`${failedCheck.error!.name}: ${failedCheck.error!.message}`);
    expect(await failedRow.locator('.span-event[data-event="chaos.injected"]').getAttribute("title")).toMatch(
      /^chaos\.injected at \+\d+\.\d ms\nchaos\.kind=failure\nchaos\.mode=error\nchaos\.failure_rate=1$/,
    );
    const retries = trace.spans.filter((span) => span.links.length > 0);
    for (const retry of retries) {
      const retried = trace.spans.find((span) => span.id === retry.links[0]!.spanId)!;
      expect(await page.locator(`#trace .span-row[data-span-id="${retry.id}"] .span-link`).textContent()).toBe(
        `↻ retry of ${retried.service} · ${retried.name}`,
      );
    }
    await page.locator("#trace").screenshot({ path: join(ARTIFACTS, "tracing-waterfall.png") });
  });

  it("answers GET /api/traces/:traceId as its OpenAPI document says: the trace, a 404 for an unknown one, a 422 for a malformed id", async () => {
    const document = (await get<OpenApiDocument>("/openapi.json")).body;
    const ajv = new Ajv2020({ strict: true });
    ajv.addVocabulary(["openapi", "info", "servers", "paths", "components"]);
    ajv.addSchema(document, "document");
    const matches = (status: number, body: unknown) => {
      const validate = ajv.compile({ $ref: `document#/paths/~1traces~1{traceId}/get/responses/${status}/content/application~1json/schema` });
      return validate(body) || validate.errors;
    };
    const created = await fetch(`${app.baseUrl}/orders`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(placement) });
    const { id: orderId } = (await created.json()) as { id: string };
    const traceId = await waitFor(async () => (await get<{ traceId?: string | null }>(`/sagas/${orderId}`)).body.traceId ?? undefined, {
      what: "the saga's trace id",
    });
    const found = await waitFor(
      async () => {
        const answer = await get<StoredTrace>(`/traces/${traceId}`);
        return answer.status === 200 && answer;
      },
      { what: "a span of the trace" },
    );
    const unknown = await get<{ type: string }>(`/traces/${"0".repeat(31)}1`);
    const malformed = await get<{ type: string }>(`/traces/${traceId.toUpperCase()}`);

    expect(matches(200, found.body)).toBe(true);
    expect([unknown.status, unknown.body.type, matches(404, unknown.body)]).toEqual([404, "TRACE_NOT_FOUND", true]);
    expect([malformed.status, malformed.body.type, matches(422, malformed.body)]).toEqual([422, "VALIDATION_ERROR", true]);
  });
});

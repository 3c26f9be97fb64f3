import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { waitFor } from "../../tools/wait-for";
import { EmbeddedApp, startEmbeddedApp } from "../support/embedded-app";

const TOKEN = "projections-admin-token";
const ADMIN = { Authorization: `Bearer ${TOKEN}` };
const placement = (customerId: string) => ({ customerId, currency: "EUR", items: [{ productId: "p", quantity: 1, unitPrice: 100 }] });

describe("GET /api/projections/:name, POST /api/projections/:name/rebuild (embedded app, SQLite store)", () => {
  let app: EmbeddedApp;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "glitchbuster-projections-e2e-"));
    app = await startEmbeddedApp({
      env: { EVENT_STORE_URL: `sqlite:${join(dir, "events.db")}`, ADMIN_TOKEN: TOKEN },
      services: ["api", "orders", "relay", "dlq"],
    });
  });
  afterAll(async () => {
    await app.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function call(method: string, path: string, headers: Record<string, string> = {}) {
    const response = await fetch(`${app.baseUrl}${path}`, { method, headers });
    return { status: response.status, location: response.headers.get("location"), body: (await response.json()) as Record<string, unknown> };
  }

  it("rebuilds the order list from the log while it serves, and reports its progress until it is swapped in", async () => {
    for (let index = 0; index < 30; index += 1) {
      await fetch(`${app.baseUrl}/orders`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(placement(`c-${index % 3}`)),
      });
    }
    const before = await call("GET", "/orders?limit=100");

    const started = await call("POST", "/projections/orders/rebuild", ADMIN);
    const done = await waitFor(
      async () => {
        const report = await call("GET", "/projections/orders");
        return report.body.status === "done" ? report : undefined;
      },
      { what: "the rebuild to end" },
    );

    expect(started).toMatchObject({ status: 202, location: "/api/projections/orders", body: { name: "orders", status: "rebuilding", position: "0", rows: 0 } });
    expect(done).toMatchObject({ status: 200, body: { name: "orders", status: "done", rows: 30, progress: 1, startedAt: expect.any(String) } });
    expect(await call("GET", "/orders?limit=100")).toEqual(before);
  });

  it("reports the DLQ list's projection, and refuses a rebuild without the admin token", async () => {
    expect(await call("GET", "/projections/dead-letters")).toMatchObject({ status: 200, body: { name: "dead-letters", status: "idle", rows: 0 } });
    expect(await call("POST", "/projections/dead-letters/rebuild")).toMatchObject({ status: 401, body: { type: "UNAUTHORIZED" } });
    expect(await call("GET", "/projections/payments")).toMatchObject({ status: 404, body: { type: "NOT_FOUND" } });
  });
});

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HttpFigures, load, startServer, stopServer } from "./harness";

const CONNECTIONS = 50;
const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 10);
const order = JSON.stringify({
  customerId: "c-bench",
  currency: "EUR",
  items: [{ productId: "book", quantity: 2, unitPrice: 1250 }],
});

export interface GatewayFigures {
  trivialRoute: HttpFigures;
  createOrder: HttpFigures;
  ratio: number;
}

/** POST /api/orders in embedded mode beside a trivial moleculer-web route, 50 connections each. */
export async function benchGateway(distDir: string): Promise<GatewayFigures> {
  const request = { connections: CONNECTIONS, duration: DURATION_S, method: "POST" as const, headers: { "content-type": "application/json" }, body: order };

  const trivial = await startServer(join(distDir, "bench/trivial-gateway.js"), {}, 3901);
  const trivialRoute = await load({ ...request, url: "http://127.0.0.1:3901/api/trivial" });
  await stopServer(trivial);

  const dir = mkdtempSync(join(tmpdir(), "glitchbuster-bench-"));
  const embedded = await startServer(
    join(distDir, "main.js"),
    { EVENT_STORE_URL: `sqlite:${join(dir, "events.db")}`, LOG_LEVEL: "warn" },
    3902,
  );
  const createOrder = await load({ ...request, url: "http://127.0.0.1:3902/api/orders" });
  await stopServer(embedded);
  rmSync(dir, { recursive: true, force: true });

  return { trivialRoute, createOrder, ratio: createOrder.requestsPerSecond / trivialRoute.requestsPerSecond };
}

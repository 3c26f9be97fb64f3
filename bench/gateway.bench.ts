import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EventLoopFigures, EventLoopSampler, HttpFigures, load, startServer, stopServer } from "./harness";

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
  /** The embedded app's event-loop delay during the POST /api/orders load. */
  eventLoop: EventLoopFigures;
  ratio: number;
}

/** POST /api/orders in embedded mode beside a trivial moleculer-web route, 50 connections each. */
export async function benchGateway(distDir: string): Promise<GatewayFigures> {
  const request = { connections: CONNECTIONS, duration: DURATION_S, method: "POST" as const, headers: { "content-type": "application/json" }, body: order };

  const trivial = await startServer(join(distDir, "bench/trivial-gateway.js"), {}, { metrics: false });
  let trivialRoute: HttpFigures;
  try {
    trivialRoute = await load({ ...request, url: `http://127.0.0.1:${trivial.port}/api/trivial` });
  } finally {
    await stopServer(trivial);
  }

  const dir = mkdtempSync(join(tmpdir(), "glitchbuster-bench-"));
  const embedded = await startServer(join(distDir, "main.js"), { EVENT_STORE_URL: `sqlite:${join(dir, "events.db")}`, LOG_LEVEL: "warn" });
  let createOrder: HttpFigures;
  let eventLoop: EventLoopFigures;
  try {
    const sampler = new EventLoopSampler(embedded);
    await sampler.start();
    createOrder = await load({ ...request, url: `http://127.0.0.1:${embedded.port}/api/orders` });
    eventLoop = await sampler.stop();
  } finally {
    await stopServer(embedded);
    rmSync(dir, { recursive: true, force: true });
  }

  return { trivialRoute, createOrder, eventLoop, ratio: createOrder.requestsPerSecond / trivialRoute.requestsPerSecond };
}

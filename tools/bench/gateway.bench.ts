import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type autocannon from "autocannon";
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
  /** The same, with no saga side in the process (SERVICES=api,orders,relay): what the HTTP process could do were the sagas elsewhere. */
  createOrderWithoutSagas: HttpFigures;
  /** The embedded app's event-loop delay during the POST /api/orders load. */
  eventLoop: EventLoopFigures;
  ratio: number;
}

/** POST /api/orders in embedded mode beside a trivial moleculer-web route, 50 connections each. */
export async function benchGateway(distDir: string): Promise<GatewayFigures> {
  const request = { connections: CONNECTIONS, duration: DURATION_S, method: "POST" as const, headers: { "content-type": "application/json" }, body: order };

  const trivial = await startServer(join(distDir, "tools/bench/trivial-gateway.js"), {}, { metrics: false });
  let trivialRoute: HttpFigures;
  try {
    trivialRoute = await load({ ...request, url: `http://127.0.0.1:${trivial.port}/api/trivial` });
  } finally {
    await stopServer(trivial);
  }

  const embedded = await loadEmbedded(distDir, {}, request);
  const withoutSagas = await loadEmbedded(distDir, { SERVICES: "api,orders,relay" }, request);

  return {
    trivialRoute,
    createOrder: embedded.figures,
    createOrderWithoutSagas: withoutSagas.figures,
    eventLoop: embedded.eventLoop,
    ratio: embedded.figures.requestsPerSecond / trivialRoute.requestsPerSecond,
  };
}

/** POST /api/orders under `request` to the embedded app started with `env`, on a store of its own. */
async function loadEmbedded(
  distDir: string,
  env: Record<string, string>,
  request: Omit<autocannon.Options, "url">,
): Promise<{ figures: HttpFigures; eventLoop: EventLoopFigures }> {
  const dir = mkdtempSync(join(tmpdir(), "glitchbuster-bench-"));
  const embedded = await startServer(join(distDir, "main.js"), { EVENT_STORE_URL: `sqlite:${join(dir, "events.db")}`, LOG_LEVEL: "warn", ...env });
  try {
    const sampler = new EventLoopSampler(embedded);
    await sampler.start();
    const figures = await load({ ...request, url: `http://127.0.0.1:${embedded.port}/api/orders` });
    return { figures, eventLoop: await sampler.stop() };
  } finally {
    await stopServer(embedded);
    rmSync(dir, { recursive: true, force: true });
  }
}

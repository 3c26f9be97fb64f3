import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EventLoopFigures, EventLoopSampler, startServer, stopServer } from "./harness";
import { createScratchDatabase } from "../../adapters/postgres-databases";
import { BENCH_POSTGRES_URL } from "./postgres.bench";
import { processTreeCpuMs } from "./process-cpu";

export type SagaMode = "embedded" | "cluster";
/** The event store every process shares: one SQLite file, or a PostgreSQL database of the run's own. */
export type SagaStore = "sqlite" | "postgres";

export interface SagaFigures {
  mode: SagaMode;
  store: SagaStore;
  orders: number;
  /** How the orders were sent: 50 in flight (as fast as the server answers), or at a fixed rate whatever the answers. */
  load: SagaLoad;
  /** Each POST /api/orders, from sending it to its answer, as the client saw it. */
  postP99Ms: number;
  /** Orders from the first one created to the last one settled, per second. */
  sagasPerSecond: number;
  /** From OrderCreated to the order's terminal event, in ms. */
  p50Ms: number;
  p99Ms: number;
  /** User + system CPU of the server's processes from the first POST to the last settled order, per order. */
  cpuMsPerOrder: number;
  /** Event-loop delay during the load: the worst node of the cluster (by p99), or the embedded app. */
  eventLoop: EventLoopFigures;
  outcomes: Record<string, number>;
}

interface OrderView {
  id: string;
  status: string;
  createdAt: string;
  confirmedAt?: string;
  rejectedAt?: string;
  cancelledAt?: string;
}

/** Closed loop: `inFlight` orders at a time, each sent once the one before it was answered. Open loop: `perSecond`, on time. */
export type SagaLoad = { inFlight: number } | { perSecond: number };

export const SATURATING_LOAD: SagaLoad = { inFlight: 50 };

/**
 * Posts `count` orders and waits until every one is settled by its saga: to the embedded app
 * (`npm start`: SQLite store, memory bus) or to the local cluster (`npm run start:cluster`: a
 * process per service over RabbitMQ, one SQLite file or PostgreSQL). Under a closed loop the
 * server runs flat out (throughput); at a fixed rate below that, the latencies are those of a
 * server with room to spare, and nothing waits for the client.
 */
export async function benchSagas(
  distDir: string,
  mode: SagaMode,
  store: SagaStore = "sqlite",
  count = Number(process.env.BENCH_SAGAS ?? 1000),
  load: SagaLoad = SATURATING_LOAD,
  env: Record<string, string> = {},
): Promise<SagaFigures> {
  const dir = mkdtempSync(join(tmpdir(), "glitchbuster-bench-sagas-"));
  const database = store === "postgres" ? await createScratchDatabase(BENCH_POSTGRES_URL, "glitchbuster_bench") : undefined;
  const script = mode === "embedded" ? "main.js" : "tools/cluster/main.js";
  const server = await startServer(join(distDir, script), {
    EVENT_STORE_URL: database?.url ?? `sqlite:${join(dir, "events.db")}`,
    LOG_LEVEL: "warn",
    BUS_NAMESPACE: `bench-${Date.now()}`,
    ...env,
  }).catch(async (error: unknown) => {
    await database?.drop();
    rmSync(dir, { recursive: true, force: true });
    throw error;
  });
  const base = `http://127.0.0.1:${server.port}/api`;
  try {
    const sampler = new EventLoopSampler(server);
    await sampler.start();
    const cpuAtStart = processTreeCpuMs(server.process.pid!);
    const postMs = "inFlight" in load ? await postInFlight(base, count, load.inFlight) : await postAtRate(base, count, load.perSecond);
    let settled: OrderView[] = [];
    while (settled.length < count) {
      settled = await settledOrders(base, count);
      if (settled.length < count) await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const cpuMsPerOrder = (processTreeCpuMs(server.process.pid!) - cpuAtStart) / count;
    const eventLoop = await sampler.stop();
    // Times the server recorded, so that neither the client nor the polling count.
    const settledAt = (order: OrderView) => Date.parse(order.confirmedAt ?? order.rejectedAt ?? order.cancelledAt ?? "");
    const firstCreated = Math.min(...settled.map((order) => Date.parse(order.createdAt)));
    const elapsedS = (Math.max(...settled.map(settledAt)) - firstCreated) / 1000;
    const latencies = settled.map((order) => settledAt(order) - Date.parse(order.createdAt)).sort((a, b) => a - b);
    const outcomes: Record<string, number> = {};
    for (const order of settled) outcomes[order.status] = (outcomes[order.status] ?? 0) + 1;
    postMs.sort((a, b) => a - b);
    return {
      mode,
      store,
      orders: count,
      load,
      postP99Ms: Math.round(postMs[Math.floor(postMs.length * 0.99)]! * 10) / 10,
      sagasPerSecond: count / elapsedS,
      p50Ms: latencies[Math.floor(latencies.length * 0.5)]!,
      p99Ms: latencies[Math.floor(latencies.length * 0.99)]!,
      cpuMsPerOrder: Math.round(cpuMsPerOrder * 100) / 100,
      eventLoop,
      outcomes,
    };
  } finally {
    await stopServer(server);
    await database?.drop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** POSTs `count` orders, `inFlight` at a time; the time each took to be answered. */
async function postInFlight(base: string, count: number, inFlight: number): Promise<number[]> {
  const took: number[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < count) took.push(await postOrder(base, next++));
    }),
  );
  return took;
}

/** POSTs `count` orders at `perSecond`, each on time whether or not the ones before it were answered. */
async function postAtRate(base: string, count: number, perSecond: number): Promise<number[]> {
  const posts: Promise<number>[] = [];
  const started = performance.now();
  while (posts.length < count) {
    const due = Math.min(count, Math.floor(((performance.now() - started) / 1000) * perSecond) + 1);
    while (posts.length < due) posts.push(postOrder(base, posts.length));
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  return Promise.all(posts);
}

/** One order; the ms from sending it to its answer. Throws unless it is a 201. */
async function postOrder(base: string, index: number): Promise<number> {
  const sentAt = performance.now();
  const response = await fetch(`${base}/orders`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ customerId: `c-${index % 97}`, currency: "EUR", items: [{ productId: "p", quantity: 1, unitPrice: 1000 + index }] }),
  });
  if (response.status !== 201) throw new Error(`POST /orders answered ${response.status}: ${await response.text()}`);
  await response.arrayBuffer();
  return performance.now() - sentAt;
}

/** Every order that is no longer pending, read through the list route. */
async function settledOrders(base: string, atMost: number): Promise<OrderView[]> {
  const settled: OrderView[] = [];
  for (const status of ["confirmed", "rejected", "cancelled"]) {
    let cursor: string | null = null;
    do {
      const query = `${base}/orders?status=${status}&limit=100${cursor ? `&cursor=${cursor}` : ""}`;
      const page = (await (await fetch(query)).json()) as { items: OrderView[]; nextCursor: string | null };
      settled.push(...page.items);
      cursor = page.nextCursor;
    } while (cursor && settled.length < atMost);
  }
  return settled;
}

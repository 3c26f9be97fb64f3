import Database from "better-sqlite3";
import { randomUUID } from "node:crypto";
import { appendFileSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LocalCluster } from "../../cluster/local-cluster";
import { RABBITMQ_URL, deleteRabbitMqObjects } from "./rabbitmq";
import { waitFor } from "./wait-for";

const ROOT = join(__dirname, "..", "..");
const ARTIFACTS = join(ROOT, "test-artifacts");

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * The local cluster of `npm run start:cluster` as real processes, on the real RabbitMQ, with
 * a namespace, an event store file and a port of its own; what the nodes print goes to
 * test-artifacts/<name>.log.
 */
export class ClusterHarness {
  readonly cluster: LocalCluster;
  readonly baseUrl: string;
  readonly namespace = `test-${randomUUID()}`;
  private readonly dir = mkdtempSync(join(tmpdir(), "glitchbuster-cluster-"));
  readonly logFile: string;

  private constructor(name: string, port: number, env: Record<string, string>) {
    mkdirSync(ARTIFACTS, { recursive: true });
    this.logFile = join(ARTIFACTS, `${name}.log`);
    this.baseUrl = `http://127.0.0.1:${port}/api`;
    this.cluster = new LocalCluster({
      main: join(ROOT, "dist", "main.js"),
      env: {
        ...process.env,
        PORT: String(port),
        HOST: "127.0.0.1",
        AMQP_URL: RABBITMQ_URL,
        BUS_NAMESPACE: this.namespace,
        EVENT_STORE_URL: `sqlite:${join(this.dir, "events.db")}`,
        LOG_LEVEL: "warn",
        ADMIN_TOKEN: "cluster-test",
        ...env,
      },
      output: (line) => appendFileSync(this.logFile, `${line}\n`),
    });
  }

  static async start(name: string, env: Record<string, string> = {}): Promise<ClusterHarness> {
    const harness = new ClusterHarness(name, await freePort(), env);
    rmSync(harness.logFile, { force: true });
    harness.cluster.startAll();
    await harness.healthy();
    return harness;
  }

  async healthy(timeoutMs = 30_000): Promise<void> {
    await waitFor(
      () =>
        fetch(`${this.baseUrl}/health`).then(
          (response) => response.status === 200,
          () => false,
        ),
      { timeoutMs, intervalMs: 100, what: `the cluster to answer healthy (see ${this.logFile})` },
    );
  }

  /** Waits until the node answers in the cluster (it reports through GET /api/resilience). */
  async nodeReady(name: string, timeoutMs = 30_000): Promise<void> {
    await waitFor(
      () =>
        fetch(`${this.baseUrl}/resilience`).then(
          async (response) => response.ok && ((await response.json()) as { nodes: string[] }).nodes.includes(name),
          () => false,
        ),
      { timeoutMs, intervalMs: 100, what: `node ${name} to join (see ${this.logFile})` },
    );
  }

  /**
   * Places an order as a careful client would: with an Idempotency-Key, trying again while
   * the cluster cannot answer, so that a retried request never makes a second order.
   */
  async placeOrder(index: number, deadlineMs = 60_000): Promise<string> {
    const key = `${this.namespace}-${index}`;
    const body = JSON.stringify({ customerId: `c-${index % 17}`, currency: "EUR", items: [{ productId: "p", quantity: 1, unitPrice: 1000 + index }] });
    const deadline = Date.now() + deadlineMs;
    for (;;) {
      const answer = await fetch(`${this.baseUrl}/orders`, {
        method: "POST",
        headers: { "content-type": "application/json", "idempotency-key": key },
        body,
      }).then(
        async (response) => ({ status: response.status, body: (await response.json()) as { id?: string } }),
        () => undefined,
      );
      if (answer?.status === 201 && answer.body.id) return answer.body.id;
      if (answer && answer.status < 500) throw new Error(`POST /orders answered ${answer.status}: ${JSON.stringify(answer.body)}`);
      if (Date.now() > deadline) throw new Error(`POST /orders kept failing (see ${this.logFile})`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** Places `count` orders, `inFlight` at a time; `onPlaced` hears how many are placed so far. */
  async placeOrders(count: number, inFlight = 20, onPlaced?: (placed: number) => Promise<void> | void): Promise<string[]> {
    const ids: string[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: inFlight }, async () => {
        while (next < count) {
          ids.push(await this.placeOrder(next++));
          await onPlaced?.(ids.length);
        }
      }),
    );
    return ids;
  }

  /** Read-only queries on the event store file the nodes share. */
  private query<Row>(sql: string, ...params: unknown[]): Row[] {
    const db = new Database(join(this.dir, "events.db"), { readonly: true, fileMustExist: true });
    try {
      return db.prepare(sql).all(...params) as Row[];
    } finally {
      db.close();
    }
  }

  /** Orders that reached confirmed, rejected or cancelled. */
  terminalOrders(): number {
    return this.query<{ n: number }>(
      "SELECT count(DISTINCT stream) AS n FROM events WHERE stream LIKE 'order-%' AND type IN ('OrderConfirmed', 'OrderRejected', 'OrderCancelled')",
    )[0]!.n;
  }

  createdOrders(): number {
    return this.query<{ n: number }>("SELECT count(*) AS n FROM events WHERE type = 'OrderCreated'")[0]!.n;
  }

  /** Saga facts recorded more than once for one order: must stay empty. */
  repeatedSagaSteps(): Array<{ stream: string; type: string; step: string | null; times: number }> {
    return this.query(
      `SELECT stream, type, json_extract(data, '$.step') AS step, count(*) AS times FROM events
       WHERE stream LIKE 'saga-%' GROUP BY stream, type, step HAVING times > 1`,
    );
  }

  /** Which orchestrator started each saga. */
  sagasStartedBy(): Record<string, number> {
    const rows = this.query<{ node: string; n: number }>(
      "SELECT json_extract(metadata, '$.handledBy') AS node, count(*) AS n FROM events WHERE type = 'SagaStarted' GROUP BY node",
    );
    return Object.fromEntries(rows.map((row) => [row.node, row.n]));
  }

  async waitUntilSettled(expected: number, timeoutMs = 60_000): Promise<void> {
    await waitFor(() => this.terminalOrders() >= expected, { timeoutMs, intervalMs: 200, what: `${expected} orders to settle (see ${this.logFile})` });
  }

  async stop(): Promise<Record<string, number | NodeJS.Signals | null>> {
    const codes = await this.cluster.stopAll();
    await deleteRabbitMqObjects(this.namespace).catch(() => undefined);
    await deleteRabbitMqObjects(`MOL-${this.namespace}`).catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
    return codes;
  }
}

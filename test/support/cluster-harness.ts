import { randomUUID } from "node:crypto";
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EventLogQueries } from "../../tools/cluster/event-log-queries";
import { LocalCluster } from "../../tools/cluster/local-cluster";
import { OrderClient } from "../../tools/cluster/order-client";
import { RABBITMQ_URL, deleteRabbitMqObjects } from "./rabbitmq";
import { waitFor } from "../../tools/wait-for";
import { freePort } from "./free-port";

const ROOT = join(__dirname, "..", "..");
const ARTIFACTS = join(ROOT, "test-artifacts");

/**
 * The local cluster of `npm run start:cluster` as real processes, on the real RabbitMQ, with
 * a namespace, an event store file (or the EVENT_STORE_URL given in `env`) and a port of its
 * own; what the nodes print goes to test-artifacts/<name>.log.
 */
export class ClusterHarness {
  readonly cluster: LocalCluster;
  readonly baseUrl: string;
  readonly namespace = `test-${randomUUID()}`;
  private readonly dir = mkdtempSync(join(tmpdir(), "glitchbuster-cluster-"));
  readonly logFile: string;

  readonly client: OrderClient;
  readonly log: EventLogQueries;

  private constructor(name: string, port: number, env: Record<string, string>) {
    mkdirSync(ARTIFACTS, { recursive: true });
    this.logFile = join(ARTIFACTS, `${name}.log`);
    this.baseUrl = `http://127.0.0.1:${port}/api`;
    this.client = new OrderClient(this.baseUrl, this.namespace);
    const eventStoreUrl = env.EVENT_STORE_URL ?? `sqlite:${join(this.dir, "events.db")}`;
    this.log = new EventLogQueries(eventStoreUrl);
    this.cluster = new LocalCluster({
      main: join(ROOT, "dist", "main.js"),
      env: {
        ...process.env,
        PORT: String(port),
        HOST: "127.0.0.1",
        AMQP_URL: RABBITMQ_URL,
        BUS_NAMESPACE: this.namespace,
        LOG_LEVEL: "warn",
        ADMIN_TOKEN: "cluster-test",
        METRICS_PORT: "0",
        ...env,
        EVENT_STORE_URL: eventStoreUrl,
      },
      output: (line) => appendFileSync(this.logFile, `${line}\n`),
    });
  }

  static async start(name: string, env: Record<string, string> = {}): Promise<ClusterHarness> {
    const harness = new ClusterHarness(name, await freePort(), env);
    rmSync(harness.logFile, { force: true });
    harness.cluster.startAll();
    await harness.healthy();
    // Every node known to the others before the first order: an orchestrator that took a saga
    // before it had heard of antifraud would dead-letter it (a startup race, not what these
    // tests are about).
    for (const name of harness.cluster.running.keys()) await harness.nodeReady(name);
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

  /** Places `count` orders, `inFlight` at a time; `onPlaced` hears how many are placed so far. */
  placeOrders(count: number, inFlight = 20, onPlaced?: (placed: number) => Promise<void> | void): Promise<string[]> {
    return this.client.placeMany(
      count,
      (index) => ({ customerId: `c-${index % 17}`, currency: "EUR", items: [{ productId: "p", quantity: 1, unitPrice: 1000 + index }] }),
      inFlight,
      onPlaced,
    );
  }

  async waitUntilSettled(expected: number, timeoutMs = 60_000): Promise<void> {
    await waitFor(async () => (await this.log.terminalOrders()) >= expected, {
      timeoutMs,
      intervalMs: 200,
      what: `${expected} orders to settle (see ${this.logFile})`,
    });
  }

  async stop(): Promise<Record<string, number | NodeJS.Signals | null>> {
    const codes = await this.cluster.stopAll();
    await this.log.close();
    await deleteRabbitMqObjects(RABBITMQ_URL, this.namespace).catch(() => undefined);
    await deleteRabbitMqObjects(RABBITMQ_URL, `MOL-${this.namespace}`).catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
    return codes;
  }
}

/**
 * For a describe block whose tests each start a cluster: dist/ must be built (`npm test`
 * compiles it before jest runs; the nodes are `node dist/main.js`), and after each test the
 * cluster stops and every node must have exited 0 on SIGTERM.
 */
export function clusterPerTest(): { start(name: string, env?: Record<string, string>): Promise<ClusterHarness> } {
  let harness: ClusterHarness | undefined;
  beforeAll(() => {
    expect(existsSync(join(ROOT, "dist", "main.js"))).toBe(true);
  });
  afterEach(async () => {
    const codes = await harness?.stop();
    harness = undefined;
    if (codes) expect(codes).toEqual(Object.fromEntries(Object.keys(codes).map((name) => [name, 0])));
  });
  return { start: async (name, env) => (harness = await ClusterHarness.start(name, env)) };
}

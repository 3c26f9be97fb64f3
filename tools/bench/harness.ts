import autocannon from "autocannon";
import { ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { readFileSync, readdirSync, readlinkSync } from "node:fs";
import { processTree } from "./process-cpu";

export interface HttpFigures {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  non2xx: number;
}

/** A server the bench started, with the ports it chose itself and found by the bench. */
export interface Server {
  process: ChildProcess;
  /** The port that answers GET /api/health. */
  port: number;
  /** Each node's /metrics (one for the embedded app, one per node of the cluster). */
  metrics: { pid: number; url: string }[];
}

export interface StartOptions {
  /** Whether every node of the server must serve Prometheus /metrics (the trivial gateway does not). */
  metrics?: boolean;
}

const START_TIMEOUT_MS = 30_000;

/**
 * Starts a node script of dist/ as its own process, so the load generator has its own core,
 * with PORT=0 and METRICS_PORT=0: every port it listens on is one the kernel chose free, so a
 * port that someone else holds can never be measured instead. The ports are then learnt from
 * /proc (the TCP sockets in LISTEN state that the process tree's file descriptors hold) and
 * told apart by asking each one: GET /api/health, GET /metrics. This needs no log line (the
 * bench keeps LOG_LEVEL=warn, so logging costs what it costs in production) and no hook in
 * main.ts. Throws if the server exits, or does not answer on a port of its own in time.
 */
export async function startServer(script: string, env: Record<string, string>, options: StartOptions = {}): Promise<Server> {
  const wantMetrics = options.metrics ?? true;
  const child = spawn(process.execPath, [script], { env: { ...process.env, ...env, PORT: "0", METRICS_PORT: "0" }, stdio: "inherit" });
  const deadline = Date.now() + START_TIMEOUT_MS;
  let seen: string;
  try {
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${script} exited (${child.exitCode ?? child.signalCode}) before it answered`);
      const found = await probe(child.pid!, wantMetrics);
      seen = found.summary;
      if (found.server) return { process: child, ...found.server };
      if (Date.now() > deadline) throw new Error(`${script} did not answer within ${START_TIMEOUT_MS / 1000} s on a port of its own (${seen})`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  } catch (error) {
    await stopServer(child);
    throw error;
  }
}

/** The ports the process tree listens on, asked what they serve; a server once /api/health and every node's /metrics answer. */
async function probe(pid: number, wantMetrics: boolean): Promise<{ server?: Omit<Server, "process">; summary: string }> {
  const tree = processTree(pid);
  // The nodes: processes that start no other (the embedded app itself; the cluster runner's children).
  const nodes = tree.filter((member) => processTree(member).length === 1);
  let port: number | undefined;
  const metrics: Server["metrics"] = [];
  const listening = tree.flatMap((member) => listeningSockets(member).map((socket) => ({ pid: member, ...socket })));
  for (const socket of listening) {
    const base = `http://${socket.host}:${socket.port}`;
    if (port === undefined && (await answers(`${base}/api/health`, () => true))) port = socket.port;
    else if (await answers(`${base}/metrics`, (body) => body.includes("# TYPE"))) metrics.push({ pid: socket.pid, url: `${base}/metrics` });
  }
  const summary = `listening: ${listening.map((socket) => `${socket.pid}:${socket.port}`).join(", ") || "none"}; health on ${port ?? "none"}; metrics of ${metrics.length}/${nodes.length} nodes`;
  const allMetrics = nodes.every((node) => metrics.some((entry) => entry.pid === node));
  if (port === undefined || (wantMetrics && !allMetrics)) return { summary };
  return { server: { port, metrics }, summary };
}

async function answers(url: string, check: (body: string) => boolean): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
    return response.ok && check(await response.text());
  } catch {
    return false;
  }
}

/** TCP sockets in LISTEN state held by a process: its fds' socket inodes, looked up in its network namespace's tables. */
export function listeningSockets(pid: number): { host: string; port: number }[] {
  const inodes = new Set<string>();
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
        const match = /^socket:\[(\d+)\]$/.exec(target);
        if (match) inodes.add(match[1]!);
      } catch {
        // The fd was closed between the listing and the read.
      }
    }
  } catch {
    return [];
  }
  const sockets: { host: string; port: number }[] = [];
  for (const table of ["tcp", "tcp6"]) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/net/${table}`, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
      const fields = line.trim().split(/\s+/);
      if (fields.length < 10 || fields[3] !== "0A" || !inodes.has(fields[9]!)) continue;
      const [address, portHex] = fields[1]!.split(":") as [string, string];
      sockets.push({ host: loopbackFor(address), port: parseInt(portHex, 16) });
    }
  }
  return sockets;
}

/** How to reach a listening address from this host: the address itself (IPv4) or loopback for any-address. */
function loopbackFor(hex: string): string {
  if (hex.length === 8) {
    const ip = [3, 2, 1, 0].map((index) => parseInt(hex.slice(index * 2, index * 2 + 2), 16)).join(".");
    return ip === "0.0.0.0" ? "127.0.0.1" : ip;
  }
  if (/^0+$/.test(hex)) return "127.0.0.1";
  if (hex === "00000000000000000000000001000000") return "[::1]";
  // An IPv4-mapped address: ::ffff:a.b.c.d, the last word in the kernel's byte order.
  if (hex.startsWith("0000000000000000FFFF0000")) return loopbackFor(hex.slice(24));
  return "127.0.0.1";
}

export async function stopServer(server: Server | ChildProcess): Promise<void> {
  const child = server instanceof ChildProcess ? server : server.process;
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill("SIGTERM");
  await once(child, "exit");
}

/** The event-loop delay of a server's nodes while under load, from glitchbuster_eventloop_delay_{p99,max}_ms. */
export interface EventLoopFigures {
  /** The highest p99 of any window that overlapped the load, on any node: an upper bound of the load's p99. */
  p99Ms: number;
  /** The longest delay seen during the load, on any node. */
  maxMs: number;
  /** The node with the highest p99 (its nodeID label, else its pid). */
  node: string;
}

/** The window of the gauges (mixins/event-loop-delay.mixin.ts) and how often the bench reads them during the load. */
const EVENT_LOOP_WINDOW_MS = 5_000;
const SAMPLE_EVERY_MS = 1_000;

/**
 * Reads every node's event-loop gauges once a second from `start()` to `stop()`, then for one
 * more window, so that each window that overlapped the load is read at least once. `start()`
 * first waits out one window (start-up work is not load) and leaves its reading out.
 */
export class EventLoopSampler {
  private readonly readings: { node: string; p99: number; max: number }[] = [];
  private timer?: NodeJS.Timeout;
  private pending = Promise.resolve();

  constructor(private readonly server: Server) {}

  async start(): Promise<void> {
    // Let the window that holds the nodes' start-up work end first: the window the load begins in then began on a started, idle server.
    await new Promise((resolve) => setTimeout(resolve, EVENT_LOOP_WINDOW_MS + 500));
    await this.read(false);
    this.timer = setInterval(() => {
      this.pending = this.pending.then(() => this.read(true));
    }, SAMPLE_EVERY_MS);
  }

  async stop(): Promise<EventLoopFigures> {
    await new Promise((resolve) => setTimeout(resolve, EVENT_LOOP_WINDOW_MS + SAMPLE_EVERY_MS + 500));
    clearInterval(this.timer);
    await this.pending;
    if (this.readings.length === 0) throw new Error("no event-loop delay reading from the server's /metrics during the load");
    const worst = this.readings.reduce((a, b) => (b.p99 > a.p99 ? b : a));
    return { p99Ms: worst.p99, maxMs: Math.max(...this.readings.map((reading) => reading.max)), node: worst.node };
  }

  private async read(keep: boolean): Promise<void> {
    await Promise.all(
      this.server.metrics.map(async ({ pid, url }) => {
        const body = await (await fetch(url, { signal: AbortSignal.timeout(5_000) })).text();
        const gauge = (name: string) => {
          const match = new RegExp(`^glitchbuster_eventloop_delay_${name}_ms(\\{[^}]*\\})? (\\S+)$`, "m").exec(body);
          if (!match) throw new Error(`${url} serves no glitchbuster_eventloop_delay_${name}_ms`);
          return { labels: match[1] ?? "", value: Number(match[2]) };
        };
        const p99 = gauge("p99");
        const max = gauge("max");
        const node = /nodeID="([^"]*)"/.exec(p99.labels)?.[1] ?? `pid ${pid}`;
        if (keep) this.readings.push({ node, p99: p99.value, max: max.value });
      }),
    );
  }
}

export async function load(options: autocannon.Options): Promise<HttpFigures> {
  const result = await autocannon(options);
  return {
    requestsPerSecond: result.requests.average,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    errors: result.errors,
    non2xx: result.non2xx,
  };
}

import { readFileSync } from "node:fs";
import { waitFor } from "../wait-for";
import { EventLogQueries } from "../cluster/event-log-queries";
import { leaseHoldersOf } from "../cluster/lease-holders";
import { LocalCluster } from "../cluster/local-cluster";
import { OrderClient } from "../cluster/order-client";
import { RelayFailover, killAndRestartOrchestrator, killRelayLeader, restartRabbitMq } from "./faults";

export type { RelayFailover } from "./faults";

export interface SoakOptions {
  orders: number;
  rounds: number;
  /** dist/main.js */
  main: string;
  /** The environment of every node (port, namespace, admin token...). */
  env: Record<string, string>;
  baseUrl: string;
  /** The event store every node shares (their EVENT_STORE_URL), which the ledger is read from. */
  eventStoreUrl: string;
  rabbitmqUrl: string;
  adminToken: string;
  log: (line: string) => void;
  nodeOutput?: (line: string) => void;
}

export interface Ledger {
  created: number;
  confirmed: number;
  rejected: number;
  cancelled: number;
  deadLettered: number;
  replayed: number;
  /** Orders neither settled nor held in the DLQ: must be 0. */
  lost: number;
  /** Must be 0. */
  appendedTwice: number;
  /** Payments authorised for a rejected or cancelled order and not voided: must be 0. */
  heldPayments: number;
  /** Sagas past their recorded deadline and still running: must be 0. */
  pastDeadline: number;
}

export interface SoakReport {
  ledger: Ledger;
  violations: string[];
  /** Resident memory of each node, in MiB, after each round. */
  rssMiB: Record<string, number>[];
  /** Undefined when the store cannot tell which relay leads (memory:, EventStoreDB). */
  relayFailover?: RelayFailover;
}

/** Participants fail 30 % of their calls, with latency: the soak's weather. */
export const SOAK_FAULTS = {
  ANTIFRAUD_CHAOS_FAILURE_RATE: "0.3",
  ANTIFRAUD_CHAOS_LATENCY_MS: "20",
  PAYMENTS_CHAOS_FAILURE_RATE: "0.3",
  PAYMENTS_CHAOS_LATENCY_MS: "20",
  // Enough attempts that most messages get through the 30 %, few enough that some die.
  BUS_RETRY_ATTEMPTS: "6",
  BUS_RETRY_BASE_MS: "50",
  BUS_RETRY_MAX_MS: "2000",
  RETRY_RETRIES: "1",
};

const QUIET_TIMEOUT_MS = 180_000;

/** A mix that reaches every outcome: most confirm, some are refused, a tenth is cancelled. */
function orderOf(index: number): object {
  const unitPrice = index % 25 === 0 ? 1_500_000 : index % 25 === 1 ? 600_000 : 1000 + index;
  return { customerId: `soak-${index % 53}`, currency: "EUR", items: [{ productId: "p", quantity: 1, unitPrice }] };
}

function rssMiB(pid: number | undefined): number {
  if (pid === undefined) return 0;
  const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return match ? Math.round(Number(match[1]) / 1024) : 0;
}

/**
 * N orders through the local cluster while participants fail 30 % of their calls, with a
 * kill -9 of an orchestrator, of the relay leader and a RabbitMQ restart in the first round;
 * then faults off, the DLQ replayed, and a ledger that must balance.
 */
export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const { log, baseUrl } = options;
  const cluster = new LocalCluster({
    main: options.main,
    env: { ...process.env, ...SOAK_FAULTS, ...options.env, EVENT_STORE_URL: options.eventStoreUrl },
    output: options.nodeOutput,
  });
  const queries = new EventLogQueries(options.eventStoreUrl);
  const leaseHolders = leaseHoldersOf(options.eventStoreUrl);
  if (!leaseHolders) log(`${options.eventStoreUrl}: cannot tell which relay leads; the relay leader is not killed`);
  let relayFailover: Promise<RelayFailover> | undefined;
  const admin = { "content-type": "application/json", authorization: `Bearer ${options.adminToken}` };
  /** Starts a replay job of every dead letter and follows it to its end (it answers 202 with its Location). */
  const replayEverythingDead = async () => {
    const started = await fetch(`${baseUrl}/dlq/replay`, { method: "POST", headers: admin, body: "{}" });
    const location = started.headers.get("location");
    if (started.status !== 202 || !location) throw new Error(`POST /dlq/replay answered ${started.status}: ${await started.text()}`);
    const job = new URL(location, baseUrl);
    const ended = await waitFor(
      async () => {
        const progress = (await (await fetch(job)).json()) as { status: string; replayed: number; total: number };
        return progress.status === "running" ? undefined : progress;
      },
      { timeoutMs: 120_000, intervalMs: 200, what: `the replay job ${location} to end` },
    );
    log(`replay job ${ended.status}: ${ended.replayed} of ${ended.total} replayed`);
  };
  const chaos = (service: string, failureRate: number) =>
    fetch(`${baseUrl}/chaos/${service}`, { method: "PUT", headers: admin, body: JSON.stringify({ failureRate, latencyMs: failureRate > 0 ? 20 : 0 }) });
  const healthy = (timeoutMs: number) =>
    waitFor(
      () =>
        fetch(`${baseUrl}/health`).then(
          (response) => response.ok,
          () => false,
        ),
      { timeoutMs, intervalMs: 200, what: "the cluster to be healthy" },
    );

  cluster.startAll();
  const rssMiBByRound: SoakReport["rssMiB"] = [];
  try {
    try {
      await healthy(60_000);
      for (let round = 1; round <= options.rounds; round += 1) {
        log(`round ${round}: ${options.orders} orders, participants failing 30 % of calls`);
        await Promise.all([chaos("antifraud", 0.3), chaos("payments", 0.3)]);
        const client = new OrderClient(baseUrl, `soak-${Date.now()}-round-${round}`);
        const faults: Promise<void>[] = [];
        await client.placeMany(options.orders, orderOf, 20, async (placed, id, index) => {
          if (index % 10 === 5) await client.cancel(id);
          if (round !== 1) return;
          if (placed === Math.floor(options.orders / 3)) faults.push(killAndRestartOrchestrator(cluster, log));
          if (placed === Math.floor(options.orders / 2) && leaseHolders) {
            relayFailover = killRelayLeader(cluster, leaseHolders, log);
            faults.push(relayFailover.then(() => undefined));
          }
          if (placed === Math.floor((options.orders * 2) / 3)) faults.push(restartRabbitMq(options.rabbitmqUrl, log));
        });
        await Promise.all(faults);
        await healthy(120_000);
        log("placed; waiting for every order to be settled or dead-lettered");
        await waitForQuiet(queries, log);

        log(
          `quiet: ${await queries.ordersDeadInDlq()} orders, ${await queries.deadEntries()} messages in the DLQ; faults off, waiting for the breakers, replaying`,
        );
        await Promise.all([chaos("antifraud", 0), chaos("payments", 0)]);
        await waitFor(
          async () => {
            const answer = await fetch(`${baseUrl}/resilience`);
            if (!answer.ok) return false;
            const report = (await answer.json()) as { breakers: { state: string }[]; unanswered: unknown[] };
            return report.unanswered.length === 0 && report.breakers.every((breaker) => breaker.state !== "open");
          },
          { timeoutMs: 60_000, intervalMs: 500, what: "the breakers to let calls through" },
        );
        // Every dead message, also of a settled order: an OrderCancelled that died leaves a payment to void.
        for (let replays = 0; (await queries.deadEntries()) > 0 && replays < 5; replays += 1) {
          await replayEverythingDead();
          await waitForQuiet(queries, log);
        }
        // A node that died is left out here (its /proc entry is gone); the stop's exit codes tell it.
        const alive = [...cluster.running.values()].filter(({ process: child }) => child.exitCode === null && child.signalCode === null);
        const rss = Object.fromEntries(alive.map(({ node, process: child }) => [node.name, rssMiB(child.pid)]));
        rssMiBByRound.push(rss);
        log(`round ${round} done; RSS MiB ${JSON.stringify(rss)}`);
      }
    } finally {
      const codes = await cluster.stopAll();
      log(`stopped: ${JSON.stringify(codes)}`);
    }
    // After the stop, so that whatever a node appended on its way out is counted too.
    const ledger = await ledgerOf(queries);
    return { ledger, violations: violationsOf(ledger), rssMiB: rssMiBByRound, relayFailover: await relayFailover };
  } finally {
    await Promise.all([queries.close(), leaseHolders?.close()]);
  }
}

/** Every created order settled or held in the DLQ, and every saga ended but those whose message is in the DLQ. */
async function quiet(queries: EventLogQueries): Promise<boolean> {
  const [created, settled, dead, atWork] = await Promise.all([
    queries.countOfType("OrderCreated"),
    queries.terminalOrders(),
    queries.ordersDeadInDlq(),
    queries.sagasAtWork(),
  ]);
  return created === settled + dead && atWork === 0;
}

/** Waits for a quiet point, telling every 10 s where things stand, and what is stuck if it never comes. */
async function waitForQuiet(queries: EventLogQueries, log: (line: string) => void): Promise<void> {
  const deadline = Date.now() + QUIET_TIMEOUT_MS;
  let nextReport = Date.now() + 10_000;
  while (!(await quiet(queries))) {
    if (Date.now() > nextReport || Date.now() > deadline) {
      const stuck = await queries.unsettledOrders(5);
      log(
        `created ${await queries.countOfType("OrderCreated")}, settled ${await queries.terminalOrders()}, in the DLQ ${await queries.ordersDeadInDlq()}, ` +
          `sagas at work ${await queries.sagasAtWork()}; ` +
          `relay at ${await queries.relayCheckpoint()} of ${await queries.lastPosition()}; unsettled, not in the DLQ: ${JSON.stringify(stuck)}`,
      );
      nextReport = Date.now() + 10_000;
      if (Date.now() > deadline) throw new Error(`no quiet point within ${QUIET_TIMEOUT_MS} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

export async function ledgerOf(queries: EventLogQueries): Promise<Ledger> {
  const created = await queries.countOfType("OrderCreated");
  return {
    created,
    confirmed: await queries.countOfType("OrderConfirmed"),
    rejected: await queries.countOfType("OrderRejected"),
    cancelled: await queries.countOfType("OrderCancelled"),
    deadLettered: await queries.deadLetteredMessages(),
    replayed: await queries.replayedDeadLetters(),
    lost: created - (await queries.terminalOrders()) - (await queries.ordersDeadInDlq()),
    appendedTwice: await queries.eventsAppendedTwice(),
    heldPayments: await queries.paymentsHeldForUnconfirmedOrders(),
    pastDeadline: await queries.sagasPastDeadline(new Date()),
  };
}

export function violationsOf(ledger: Ledger): string[] {
  const violations: string[] = [];
  if (ledger.lost !== 0) violations.push(`lost: ${ledger.lost} orders neither settled nor in the DLQ`);
  if (ledger.appendedTwice !== 0) violations.push(`appended twice: ${ledger.appendedTwice}`);
  if (ledger.heldPayments !== 0) violations.push(`payments held for rejected or cancelled orders: ${ledger.heldPayments}`);
  if (ledger.pastDeadline !== 0) violations.push(`sagas past their deadline and still running: ${ledger.pastDeadline}`);
  if (ledger.confirmed + ledger.rejected + ledger.cancelled !== ledger.created) {
    violations.push(`${ledger.created - ledger.confirmed - ledger.rejected - ledger.cancelled} orders not settled after the replay`);
  }
  return violations;
}

export function formatLedger({ ledger, violations, rssMiB, relayFailover }: SoakReport): string {
  const rows = [
    ["created", ledger.created],
    ["confirmed", ledger.confirmed],
    ["rejected", ledger.rejected],
    ["cancelled", ledger.cancelled],
    ["dead-lettered, then replayed", `${ledger.deadLettered}, ${ledger.replayed}`],
    ["lost", ledger.lost],
    ["events appended twice", ledger.appendedTwice],
    ["payments authorised for a rejected/cancelled order, not voided", ledger.heldPayments],
    ["sagas past their deadline and still running", ledger.pastDeadline],
  ];
  const lines = ["| ledger | |", "|---|---|", ...rows.map(([name, value]) => `| ${name} | ${value} |`)];
  if (relayFailover) {
    lines.push("", `relay leader ${relayFailover.killed} killed (-9); ${relayFailover.successor} took over ${relayFailover.takeoverMs} ms later`);
  }
  if (rssMiB.length > 0) {
    lines.push(
      "",
      `| RSS MiB | ${rssMiB.map((_, index) => `after round ${index + 1}`).join(" | ")} | growth |`,
      `|---|${rssMiB.map(() => "---|").join("")}---|`,
    );
    for (const node of Object.keys(rssMiB[0]!)) {
      const values = rssMiB.map((round) => round[node] ?? 0);
      lines.push(`| ${node} | ${values.join(" | ")} | ${values[values.length - 1]! - values[0]!} |`);
    }
  }
  lines.push("", violations.length === 0 ? "no violation" : `VIOLATIONS:\n${violations.map((violation) => `- ${violation}`).join("\n")}`);
  return lines.join("\n");
}

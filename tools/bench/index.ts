import "../../supported-node";
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { benchBus } from "./bus.bench";
import { benchEventStore } from "./event-store.bench";
import { benchGateway } from "./gateway.bench";
import { benchPostgres } from "./postgres.bench";
import { BenchResults, TracingFigures, rowsOf, table } from "./rows";
import { benchSagas } from "./sagas.bench";
import { benchTransporter } from "./transporter.bench";

/** Half the goal of 1,000 sagas/s: the rate at which the latency goals hold. */
const PACED_PER_SECOND = 500;
const PACED_SECONDS = 6;
/** Runs of each side in the tracing part: the median of three is what its row shows. */
const TRACING_ROUNDS = 3;

const distDir = join(__dirname, "..", "..");
const amqpUrl = process.env.AMQP_URL ?? "amqp://guest:guest@127.0.0.1:5672";

/** Each part of the bench, by the name `npm run bench -- <part>...` runs it alone. */
const PARTS: Record<string, (results: BenchResults) => Promise<void>> = {
  gateway: async (results) => {
    results.gateway = await benchGateway(distDir);
  },
  "sagas-embedded": async (results) => {
    results.sagasEmbedded = await benchSagas(distDir, "embedded", "sqlite", Number(process.env.BENCH_SAGAS ?? 2000));
  },
  "sagas-paced": async (results) => {
    results.sagasEmbeddedPaced = await benchSagas(distDir, "embedded", "sqlite", PACED_PER_SECOND * PACED_SECONDS, { perSecond: PACED_PER_SECOND });
  },
  // Tracing's cost: the same embedded run with TRACING on and off, in turn, so that the VM's drift hits both alike.
  tracing: async (results) => {
    const count = Number(process.env.BENCH_SAGAS ?? 2000);
    const runs: TracingFigures = { on: [], off: [] };
    for (let round = 0; round < TRACING_ROUNDS; round += 1) {
      for (const switched of ["on", "off"] as const)
        runs[switched].push(await benchSagas(distDir, "embedded", "sqlite", count, undefined, { TRACING: switched }));
    }
    results.tracing = runs;
  },
  "event-store": async (results) => {
    results.eventStore = await benchEventStore();
  },
  postgres: async (results) => {
    results.postgres = await benchPostgres();
  },
  bus: async (results) => {
    results.bus = await benchBus(amqpUrl);
  },
  transporter: async (results) => {
    results.transporter = { tuned: await benchTransporter(distDir, amqpUrl, false), defaults: await benchTransporter(distDir, amqpUrl, true) };
  },
  "sagas-cluster": async (results) => {
    results.sagasCluster = await benchSagas(distDir, "cluster", "sqlite");
    results.sagasClusterPostgres = await benchSagas(distDir, "cluster", "postgres");
  },
};

/**
 * `npm run bench [-- part...]`: each figure beside its ceiling, measured in the same run, in
 * one table, and a new results file per run (never over an earlier one).
 */
async function main(): Promise<void> {
  const asked = process.argv.slice(2);
  const unknown = asked.filter((part) => !(part in PARTS));
  if (unknown.length > 0) throw new Error(`no bench part ${unknown.join(", ")}; the parts are ${Object.keys(PARTS).join(", ")}`);
  const parts = asked.length > 0 ? asked : Object.keys(PARTS);
  const results: BenchResults = {};
  for (const part of parts) await PARTS[part]!(results);

  const rows = rowsOf(results);
  console.log(`\n${table(rows)}`);

  const resultsDir = join(__dirname, "..", "..", "..", "tools", "bench", "results");
  mkdirSync(resultsDir, { recursive: true });
  const at = new Date().toISOString();
  const file = join(resultsDir, `${at.replace(/[:.]/g, "-")}.json`);
  const command = `npm run bench${asked.length > 0 ? ` -- ${asked.join(" ")}` : ""}`;
  writeFileSync(file, JSON.stringify({ at, node: process.version, cpus: cpus().length, command, parts, results, rows }, null, 2), { flag: "wx" });
  console.log(`\nwritten to ${file}`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);

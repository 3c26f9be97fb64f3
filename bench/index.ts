import "../lib/supported-node";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { benchBus } from "./bus.bench";
import { benchEventStore } from "./event-store.bench";
import { benchGateway } from "./gateway.bench";
import { EventLoopFigures } from "./harness";
import { benchPostgres } from "./postgres.bench";
import { SagaFigures, benchSagas } from "./sagas.bench";
import { benchTransporter } from "./transporter.bench";

interface Row {
  what: string;
  figure: string;
  ceiling: string;
  ratio: string;
  goal: string;
  met: boolean;
}

const ratio = (value: number) => value.toFixed(2);
const eventLoopFigure = (eventLoop: EventLoopFigures) => `event-loop delay p99 ${eventLoop.p99Ms} ms, max ${eventLoop.maxMs} ms`;
const sagaFigure = (sagas: SagaFigures) =>
  `${Math.round(sagas.sagasPerSecond)} sagas/s, p50 ${sagas.p50Ms} ms, p99 ${sagas.p99Ms} ms; ${sagas.cpuMsPerOrder} ms CPU per order; ` +
  `${eventLoopFigure(sagas.eventLoop)}${sagas.mode === "cluster" ? ` (worst node: ${sagas.eventLoop.node})` : ""}`;

/** `npm run bench`: each figure beside its ceiling, measured in the same run, in one table. */
async function main(): Promise<void> {
  const distDir = join(__dirname, "..");
  const amqpUrl = process.env.AMQP_URL ?? "amqp://guest:guest@127.0.0.1:5672";

  const gateway = await benchGateway(distDir);
  const eventStore = await benchEventStore();
  const bus = await benchBus(amqpUrl);
  const transporter = await benchTransporter(distDir, amqpUrl, false);
  const transporterDefaults = await benchTransporter(distDir, amqpUrl, true);
  const postgres = await benchPostgres();
  const sagasEmbedded = await benchSagas(distDir, "embedded");
  const sagasCluster = await benchSagas(distDir, "cluster", "sqlite");
  const sagasClusterPostgres = await benchSagas(distDir, "cluster", "postgres");

  const rows: Row[] = [
    {
      what: "gateway: POST /api/orders (embedded), 50 connections",
      figure: `${Math.round(gateway.createOrder.requestsPerSecond)} req/s, p50 ${gateway.createOrder.p50Ms} ms, p99 ${gateway.createOrder.p99Ms} ms; ${eventLoopFigure(gateway.eventLoop)}`,
      ceiling: `trivial moleculer-web route: ${Math.round(gateway.trivialRoute.requestsPerSecond)} req/s`,
      ratio: ratio(gateway.ratio),
      goal: ">= 0.30, p99 <= 10 ms",
      met: gateway.ratio >= 0.3 && gateway.createOrder.p99Ms <= 10,
    },
    {
      what: `event store: SQLite adapter append, 1 KB, one per transaction`,
      figure: `${eventStore.adapterPerSecond} events/s`,
      ceiling: `raw better-sqlite3 insert: ${eventStore.rawPerSecond}/s`,
      ratio: ratio(eventStore.ratio),
      goal: ">= 0.8",
      met: eventStore.ratio >= 0.8,
    },
    {
      what: "event store: PostgreSQL adapter append, 1 KB, one per transaction, 8 in flight",
      figure: `${postgres.adapterPerSecond} events/s`,
      ceiling: `raw pg insert of the same rows: ${postgres.rawPerSecond}/s`,
      ratio: ratio(postgres.ratio),
      goal: ">= 0.8",
      met: postgres.ratio >= 0.8,
    },
    {
      what: "bus: our AMQP adapter, persistent 1 KB, confirms, quorum queue",
      figure: `${bus.ours} msg/s`,
      ceiling: `raw amqplib: ${bus.rawAmqplib}/s; @moleculer/channels: ${bus.moleculerChannels}/s`,
      ratio: `${ratio(bus.ratioToRaw)} of raw, ${ratio(bus.ratioToChannels)} of channels`,
      goal: ">= 0.8 of raw, ahead of channels",
      met: bus.ratioToRaw >= 0.8 && bus.ratioToChannels > 1,
    },
    {
      what: "transporter: remote call over AMQP (noDelay, prefetch 100)",
      figure: `p50 ${transporter.sequentialP50Ms} ms, p99 ${transporter.sequentialP99Ms} ms; ${transporter.callsPerSecondAt100InFlight} calls/s at 100 in flight`,
      ceiling: `Moleculer's defaults: p50 ${transporterDefaults.sequentialP50Ms} ms; ${transporterDefaults.callsPerSecondAt100InFlight} calls/s`,
      ratio: ratio(transporterDefaults.sequentialP50Ms / transporter.sequentialP50Ms),
      goal: "p50 < 1 ms",
      met: transporter.sequentialP50Ms < 1,
    },
    {
      what: `sagas: ${sagasEmbedded.orders} orders POST to settled, embedded (SQLite), 50 in flight`,
      figure: sagaFigure(sagasEmbedded),
      ceiling: `the gateway alone: ${Math.round(gateway.createOrder.requestsPerSecond)} creates/s`,
      ratio: ratio(sagasEmbedded.sagasPerSecond / gateway.createOrder.requestsPerSecond),
      goal: ">= 1,000/s",
      met: sagasEmbedded.sagasPerSecond >= 1000,
    },
    {
      what: `sagas: local cluster (9 nodes, 2 relays) on one shared SQLite file`,
      figure: sagaFigure(sagasCluster),
      ceiling: `embedded: ${Math.round(sagasEmbedded.sagasPerSecond)}/s`,
      ratio: ratio(sagasCluster.sagasPerSecond / sagasEmbedded.sagasPerSecond),
      goal: "(the baseline of the next row)",
      met: true,
    },
    {
      what: `sagas: local cluster (9 nodes, 2 relays) on PostgreSQL`,
      figure: sagaFigure(sagasClusterPostgres),
      ceiling: `the same cluster on SQLite: ${Math.round(sagasCluster.sagasPerSecond)}/s`,
      ratio: ratio(sagasClusterPostgres.sagasPerSecond / sagasCluster.sagasPerSecond),
      goal: ">= 2x SQLite and >= 300/s",
      met: sagasClusterPostgres.sagasPerSecond >= 2 * sagasCluster.sagasPerSecond && sagasClusterPostgres.sagasPerSecond >= 300,
    },
  ];

  console.log("\n| what | figure | ceiling, same run | ratio | goal | met |\n|---|---|---|---|---|---|");
  for (const row of rows) console.log(`| ${row.what} | ${row.figure} | ${row.ceiling} | ${row.ratio} | ${row.goal} | ${row.met ? "yes" : "no"} |`);

  const resultsDir = join(__dirname, "..", "..", "bench", "results");
  mkdirSync(resultsDir, { recursive: true });
  const at = new Date().toISOString();
  // One file per run, never over an earlier one.
  const file = join(resultsDir, `${at.replace(/[:.]/g, "-")}.json`);
  writeFileSync(
    file,
    JSON.stringify({ at, node: process.version, gateway, eventStore, bus, transporter: [transporter, transporterDefaults], postgres, sagas: [sagasEmbedded, sagasCluster, sagasClusterPostgres], rows }, null, 2),
  );
  console.log(`\nwritten to ${file}`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);

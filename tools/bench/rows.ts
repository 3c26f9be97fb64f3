import type { BusFigures } from "./bus.bench";
import type { EventStoreFigures } from "./event-store.bench";
import type { GatewayFigures } from "./gateway.bench";
import type { EventLoopFigures } from "./harness";
import type { PostgresFigures } from "./postgres.bench";
import type { SagaFigures } from "./sagas.bench";
import type { TransporterFigures } from "./transporter.bench";

/** What one run of `npm run bench` measured: the parts it was asked for. */
export interface BenchResults {
  gateway?: GatewayFigures;
  eventStore?: EventStoreFigures;
  bus?: BusFigures;
  transporter?: { tuned: TransporterFigures; defaults: TransporterFigures };
  postgres?: PostgresFigures;
  sagasEmbedded?: SagaFigures;
  sagasEmbeddedPaced?: SagaFigures;
  sagasCluster?: SagaFigures;
  sagasClusterPostgres?: SagaFigures;
  tracing?: TracingFigures;
}

/** The embedded saga run with tracing on and off, alternated. */
export interface TracingFigures {
  on: SagaFigures[];
  off: SagaFigures[];
}

export interface Row {
  what: string;
  figure: string;
  ceiling: string;
  ratio: string;
  goal: string;
  met: boolean;
  /** The command that measures this row alone. */
  command: string;
}

/** The goals of issue #13 for the embedded app. */
export const GOALS = {
  cpuMsPerOrder: 0.9,
  eventLoopP99Ms: 5,
  eventLoopMaxMs: 20,
  sagasPerSecond: 1000,
  pacedP99Ms: 50,
  gatewayRatio: 0.3,
  gatewayP99Ms: 10,
};

const ratio = (value: number) => value.toFixed(2);
const round = (value: number) => Math.round(value);
const eventLoopFigure = (eventLoop: EventLoopFigures) => `event-loop delay p99 ${eventLoop.p99Ms} ms, max ${eventLoop.maxMs} ms`;
const sagaFigure = (sagas: SagaFigures) =>
  `${round(sagas.sagasPerSecond)} sagas/s, created to settled p50 ${sagas.p50Ms} ms, p99 ${sagas.p99Ms} ms, POST answered p99 ${sagas.postP99Ms} ms; ` +
  `${sagas.cpuMsPerOrder} ms CPU per order; ${eventLoopFigure(sagas.eventLoop)}${sagas.mode === "cluster" ? ` (worst node: ${sagas.eventLoop.node})` : ""}`;
const bench = (part: string) => `npm run bench -- ${part}`;

/** The table's rows for the parts a run holds, in the table's order. */
export function rowsOf(results: BenchResults): Row[] {
  const rows: Row[] = [];
  const { gateway, eventStore, bus, transporter, postgres, sagasEmbedded, sagasEmbeddedPaced, sagasCluster, sagasClusterPostgres, tracing } = results;
  if (gateway) {
    rows.push({
      what: "gateway: POST /api/orders (embedded), 50 connections",
      figure: `${round(gateway.createOrder.requestsPerSecond)} req/s, p50 ${gateway.createOrder.p50Ms} ms, p99 ${gateway.createOrder.p99Ms} ms; ${eventLoopFigure(gateway.eventLoop)}`,
      ceiling: `trivial moleculer-web route: ${round(gateway.trivialRoute.requestsPerSecond)} req/s`,
      ratio: ratio(gateway.ratio),
      goal: `>= ${GOALS.gatewayRatio}, p99 <= ${GOALS.gatewayP99Ms} ms`,
      met: gateway.ratio >= GOALS.gatewayRatio && gateway.createOrder.p99Ms <= GOALS.gatewayP99Ms,
      command: bench("gateway"),
    });
    rows.push({
      what: "gateway: POST /api/orders with no saga side in the process (SERVICES=api,orders,relay), 50 connections",
      figure: `${round(gateway.createOrderWithoutSagas.requestsPerSecond)} req/s, p50 ${gateway.createOrderWithoutSagas.p50Ms} ms, p99 ${gateway.createOrderWithoutSagas.p99Ms} ms`,
      ceiling: `trivial moleculer-web route: ${round(gateway.trivialRoute.requestsPerSecond)} req/s`,
      ratio: ratio(gateway.createOrderWithoutSagas.requestsPerSecond / gateway.trivialRoute.requestsPerSecond),
      goal: "(what the HTTP process could do were the sagas elsewhere)",
      met: true,
      command: bench("gateway"),
    });
  }
  if (sagasEmbedded) {
    rows.push({
      what: `sagas: ${sagasEmbedded.orders} orders POST to settled, embedded (SQLite), 50 in flight`,
      figure: sagaFigure(sagasEmbedded),
      ceiling: gateway ? `the gateway alone: ${round(gateway.createOrder.requestsPerSecond)} creates/s` : "",
      ratio: gateway ? ratio(sagasEmbedded.sagasPerSecond / gateway.createOrder.requestsPerSecond) : "",
      goal: `>= ${GOALS.sagasPerSecond.toLocaleString("en")}/s, <= ${GOALS.cpuMsPerOrder} ms CPU per order`,
      met: sagasEmbedded.sagasPerSecond >= GOALS.sagasPerSecond && sagasEmbedded.cpuMsPerOrder <= GOALS.cpuMsPerOrder,
      command: bench("sagas-embedded"),
    });
  }
  if (sagasEmbeddedPaced && "perSecond" in sagasEmbeddedPaced.load) {
    rows.push({
      what: `sagas: ${sagasEmbeddedPaced.orders} orders at ${sagasEmbeddedPaced.load.perSecond}/s, embedded (SQLite)`,
      figure: sagaFigure(sagasEmbeddedPaced),
      ceiling: sagasEmbedded ? `flat out: ${round(sagasEmbedded.sagasPerSecond)}/s` : "",
      ratio: sagasEmbedded ? ratio(sagasEmbeddedPaced.load.perSecond / sagasEmbedded.sagasPerSecond) : "",
      goal: `p99 <= ${GOALS.pacedP99Ms} ms; event loop p99 <= ${GOALS.eventLoopP99Ms} ms, max <= ${GOALS.eventLoopMaxMs} ms`,
      met:
        sagasEmbeddedPaced.p99Ms <= GOALS.pacedP99Ms &&
        sagasEmbeddedPaced.eventLoop.p99Ms <= GOALS.eventLoopP99Ms &&
        sagasEmbeddedPaced.eventLoop.maxMs <= GOALS.eventLoopMaxMs,
      command: bench("sagas-paced"),
    });
  }
  if (eventStore) {
    rows.push({
      what: `event store: SQLite adapter append, 1 KB, one per transaction`,
      figure: `${eventStore.adapterPerSecond} events/s`,
      ceiling: `raw better-sqlite3 insert: ${eventStore.rawPerSecond}/s`,
      ratio: ratio(eventStore.ratio),
      goal: ">= 0.8",
      met: eventStore.ratio >= 0.8,
      command: bench("event-store"),
    });
  }
  if (postgres) {
    rows.push({
      what: "event store: PostgreSQL adapter append, 1 KB, one per transaction, 8 in flight",
      figure: `${postgres.adapterPerSecond} events/s`,
      ceiling: `raw pg insert of the same rows: ${postgres.rawPerSecond}/s`,
      ratio: ratio(postgres.ratio),
      goal: ">= 0.8",
      met: postgres.ratio >= 0.8,
      command: bench("postgres"),
    });
  }
  if (bus) {
    rows.push({
      what: "bus: our AMQP adapter, persistent 1 KB, confirms, quorum queue",
      figure: `${bus.ours} msg/s`,
      ceiling: `raw amqplib: ${bus.rawAmqplib}/s; @moleculer/channels: ${bus.moleculerChannels}/s`,
      ratio: `${ratio(bus.ratioToRaw)} of raw, ${ratio(bus.ratioToChannels)} of channels`,
      goal: ">= 0.8 of raw, ahead of channels",
      met: bus.ratioToRaw >= 0.8 && bus.ratioToChannels > 1,
      command: bench("bus"),
    });
  }
  if (transporter) {
    const { tuned, defaults } = transporter;
    rows.push({
      what: "transporter: remote call over AMQP (noDelay, prefetch 100)",
      figure: `p50 ${tuned.sequentialP50Ms} ms, p99 ${tuned.sequentialP99Ms} ms; ${tuned.callsPerSecondAt100InFlight} calls/s at 100 in flight`,
      ceiling: `Moleculer's defaults: p50 ${defaults.sequentialP50Ms} ms; ${defaults.callsPerSecondAt100InFlight} calls/s`,
      ratio: ratio(defaults.sequentialP50Ms / tuned.sequentialP50Ms),
      goal: "p50 < 1 ms",
      met: tuned.sequentialP50Ms < 1,
      command: bench("transporter"),
    });
  }
  if (sagasCluster) {
    rows.push({
      what: `sagas: local cluster (9 nodes, 2 relays) on one shared SQLite file`,
      figure: sagaFigure(sagasCluster),
      ceiling: sagasEmbedded ? `embedded: ${round(sagasEmbedded.sagasPerSecond)}/s` : "",
      ratio: sagasEmbedded ? ratio(sagasCluster.sagasPerSecond / sagasEmbedded.sagasPerSecond) : "",
      goal: "(the baseline of the next row)",
      met: true,
      command: bench("sagas-cluster"),
    });
  }
  if (sagasClusterPostgres) {
    rows.push({
      what: `sagas: local cluster (9 nodes, 2 relays) on PostgreSQL`,
      figure: sagaFigure(sagasClusterPostgres),
      ceiling: sagasCluster ? `the same cluster on SQLite: ${round(sagasCluster.sagasPerSecond)}/s` : "",
      ratio: sagasCluster ? ratio(sagasClusterPostgres.sagasPerSecond / sagasCluster.sagasPerSecond) : "",
      goal: ">= 2x SQLite and >= 300/s",
      met: sagasCluster !== undefined && sagasClusterPostgres.sagasPerSecond >= 2 * sagasCluster.sagasPerSecond && sagasClusterPostgres.sagasPerSecond >= 300,
      command: bench("sagas-cluster"),
    });
  }
  if (tracing && tracing.on.length > 0 && tracing.off.length > 0) {
    const cpu = (runs: SagaFigures[]) => median(runs.map((run) => run.cpuMsPerOrder));
    const rate = (runs: SagaFigures[]) => median(runs.map((run) => run.sagasPerSecond));
    rows.push({
      what: `tracing on (every order traced, spans to the dashboard's collector) vs off: ${tracing.on[0]!.orders} orders, embedded (SQLite), median of ${tracing.on.length} alternated runs`,
      figure: `on: ${cpu(tracing.on)} ms CPU per order, ${round(rate(tracing.on))} sagas/s (runs: ${tracing.on.map((run) => run.cpuMsPerOrder).join(" / ")} ms)`,
      ceiling: `off: ${cpu(tracing.off)} ms CPU per order, ${round(rate(tracing.off))} sagas/s (runs: ${tracing.off.map((run) => run.cpuMsPerOrder).join(" / ")} ms)`,
      ratio: ratio(cpu(tracing.on) / cpu(tracing.off)),
      goal: "(measured, no goal)",
      met: true,
      command: bench("tracing"),
    });
  }
  return rows;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** The rows as a Markdown table. */
export function table(rows: readonly Row[]): string {
  const lines = ["| what | figure | ceiling, same run | ratio | goal | met | command |", "|---|---|---|---|---|---|---|"];
  for (const row of rows)
    lines.push(`| ${row.what} | ${row.figure} | ${row.ceiling} | ${row.ratio} | ${row.goal} | ${row.met ? "yes" : "no"} | \`${row.command}\` |`);
  return lines.join("\n");
}

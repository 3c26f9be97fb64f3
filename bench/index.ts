import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { benchGateway } from "./gateway.bench";
import { benchSagas } from "./sagas.bench";
import { benchTransporter } from "./transporter.bench";

/** `npm run bench`: each figure beside its ceiling, measured in the same run. */
async function main(): Promise<void> {
  const distDir = join(__dirname, "..");
  const gateway = await benchGateway(distDir);
  const rows = [
    ["trivial moleculer-web route", gateway.trivialRoute, "ceiling"],
    ["POST /api/orders (embedded, SQLite)", gateway.createOrder, gateway.ratio.toFixed(2)],
  ] as const;
  console.log("\n| what | req/s | p50 ms | p99 ms | errors | non-2xx | ratio |\n|---|---|---|---|---|---|---|");
  for (const [name, figures, ratio] of rows) {
    console.log(
      `| ${name} | ${Math.round(figures.requestsPerSecond)} | ${figures.p50Ms} | ${figures.p99Ms} | ${figures.errors} | ${figures.non2xx} | ${ratio} |`,
    );
  }
  const sagas = [await benchSagas(distDir, "embedded"), await benchSagas(distDir, "cluster")];
  console.log("\n| sagas, POST to settled, 50 in flight | orders | sagas/s | p50 ms | p99 ms | outcomes |\n|---|---|---|---|---|---|");
  for (const figures of sagas) {
    console.log(`| ${figures.mode} | ${figures.orders} | ${Math.round(figures.sagasPerSecond)} | ${figures.p50Ms} | ${figures.p99Ms} | ${JSON.stringify(figures.outcomes)} |`);
  }
  const amqpUrl = process.env.AMQP_URL ?? "amqp://guest:guest@127.0.0.1:5672";
  const transporter = [await benchTransporter(distDir, amqpUrl, false), await benchTransporter(distDir, amqpUrl, true)];
  console.log("\n| AMQP transporter | sequential p50 ms | p99 ms | calls/s at 100 in flight |\n|---|---|---|---|");
  for (const figures of transporter) {
    console.log(`| ${figures.options} | ${figures.sequentialP50Ms} | ${figures.sequentialP99Ms} | ${figures.callsPerSecondAt100InFlight} |`);
  }
  const resultsDir = join(__dirname, "..", "..", "bench", "results");
  mkdirSync(resultsDir, { recursive: true });
  const file = join(resultsDir, `${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
  writeFileSync(file, JSON.stringify({ at: new Date().toISOString(), node: process.version, gateway, sagas, transporter }, null, 2));
  console.log(`\nwritten to ${file}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

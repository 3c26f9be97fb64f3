import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { benchGateway } from "./gateway.bench";
import { benchSagas } from "./sagas.bench";

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
  const sagas = await benchSagas(distDir);
  console.log(
    `\n| sagas, embedded (SQLite, memory bus), ${sagas.orders} orders, ${50} in flight | ${Math.round(sagas.sagasPerSecond)}/s | p50 ${sagas.p50Ms} ms | p99 ${sagas.p99Ms} ms | ${JSON.stringify(sagas.outcomes)} |`,
  );
  const resultsDir = join(__dirname, "..", "..", "bench", "results");
  mkdirSync(resultsDir, { recursive: true });
  const file = join(resultsDir, `${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
  writeFileSync(file, JSON.stringify({ at: new Date().toISOString(), node: process.version, gateway, sagas }, null, 2));
  console.log(`\nwritten to ${file}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

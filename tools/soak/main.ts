import "../../supported-node";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { deleteRabbitMqObjects } from "../cluster/rabbitmq-control";
import { formatLedger, runSoak } from "./soak";
import { createSoakStore, soakStoreChoice } from "./store";

/**
 * `npm run soak`: SOAK_ORDERS (default 2,000) orders per round, SOAK_ROUNDS (default 2)
 * rounds, through the local cluster on the local RabbitMQ and a fresh event store: a scratch
 * PostgreSQL database on 127.0.0.1:5432 (SOAK_POSTGRES_URL) when it answers, else an SQLite
 * file, with a warning; SOAK_STORE=sqlite|postgres chooses. Prints the ledger and each node's
 * RSS after each round; exits 1 on any violation.
 */
async function main(): Promise<number> {
  const orders = Number(process.env.SOAK_ORDERS ?? 2000);
  const rounds = Number(process.env.SOAK_ROUNDS ?? 2);
  const port = Number(process.env.PORT ?? 3000);
  const rabbitmqUrl = process.env.AMQP_URL ?? "amqp://guest:guest@127.0.0.1:5672";
  const namespace = `soak-${Date.now()}`;
  const adminToken = randomBytes(18).toString("base64url");
  const store = await createSoakStore(soakStoreChoice(process.env.SOAK_STORE), process.env.SOAK_POSTGRES_URL || undefined);
  (store.warning ? console.warn : console.log)(store.note);
  const started = Date.now();
  try {
    const report = await runSoak({
      orders,
      rounds,
      main: join(__dirname, "..", "..", "main.js"),
      env: {
        PORT: String(port),
        HOST: "127.0.0.1",
        AMQP_URL: rabbitmqUrl,
        BUS_NAMESPACE: namespace,
        ADMIN_TOKEN: adminToken,
        LOG_LEVEL: process.env.LOG_LEVEL ?? "error",
      },
      baseUrl: `http://127.0.0.1:${port}/api`,
      eventStoreUrl: store.url,
      rabbitmqUrl,
      adminToken,
      log: (line) => console.log(`[soak ${((Date.now() - started) / 1000).toFixed(1)}s] ${line}`),
      nodeOutput: process.env.SOAK_VERBOSE ? (line) => console.log(line) : undefined,
    });
    const on = store.url.startsWith("sqlite:") ? "SQLite" : "PostgreSQL";
    console.log(`\n${formatLedger(report)}\n\n${orders} orders x ${rounds} rounds on ${on} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
    return report.violations.length === 0 ? 0 : 1;
  } finally {
    await deleteRabbitMqObjects(rabbitmqUrl, namespace).catch(() => undefined);
    await deleteRabbitMqObjects(rabbitmqUrl, `MOL-${namespace}`).catch(() => undefined);
    await store.dispose();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);

import "../lib/supported-node";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { deleteRabbitMqObjects } from "../cluster/rabbitmq-control";
import { formatLedger, runSoak } from "../cluster/soak";

/**
 * `npm run soak`: SOAK_ORDERS (default 2,000) orders per round, SOAK_ROUNDS (default 2)
 * rounds, through the local cluster on the local RabbitMQ and a fresh SQLite file. Prints
 * the ledger and each node's RSS after each round; exits 1 on any violation.
 */
async function main(): Promise<number> {
  const orders = Number(process.env.SOAK_ORDERS ?? 2000);
  const rounds = Number(process.env.SOAK_ROUNDS ?? 2);
  const port = Number(process.env.PORT ?? 3000);
  const rabbitmqUrl = process.env.AMQP_URL ?? "amqp://guest:guest@127.0.0.1:5672";
  const namespace = `soak-${Date.now()}`;
  const adminToken = randomBytes(18).toString("base64url");
  const dir = mkdtempSync(join(tmpdir(), "glitchbuster-soak-"));
  const started = Date.now();
  try {
    const report = await runSoak({
      orders,
      rounds,
      main: join(__dirname, "..", "main.js"),
      env: {
        PORT: String(port),
        HOST: "127.0.0.1",
        AMQP_URL: rabbitmqUrl,
        BUS_NAMESPACE: namespace,
        EVENT_STORE_URL: `sqlite:${join(dir, "events.db")}`,
        ADMIN_TOKEN: adminToken,
        LOG_LEVEL: process.env.LOG_LEVEL ?? "error",
      },
      baseUrl: `http://127.0.0.1:${port}/api`,
      eventStorePath: join(dir, "events.db"),
      rabbitmqUrl,
      adminToken,
      log: (line) => console.log(`[soak ${((Date.now() - started) / 1000).toFixed(1)}s] ${line}`),
      nodeOutput: process.env.SOAK_VERBOSE ? (line) => console.log(line) : undefined,
    });
    console.log(`\n${formatLedger(report)}\n\n${orders} orders x ${rounds} rounds in ${((Date.now() - started) / 1000).toFixed(0)} s`);
    return report.violations.length === 0 ? 0 : 1;
  } finally {
    await deleteRabbitMqObjects(rabbitmqUrl, namespace).catch(() => undefined);
    await deleteRabbitMqObjects(rabbitmqUrl, `MOL-${namespace}`).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);

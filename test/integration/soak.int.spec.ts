import { randomUUID } from "node:crypto";
import { appendFileSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { deleteRabbitMqObjects } from "../../cluster/rabbitmq-control";
import { formatLedger, runSoak } from "../../cluster/soak";
import { freePort } from "../support/cluster-harness";
import { RABBITMQ_URL } from "../support/rabbitmq";

const ROOT = join(__dirname, "..", "..");
const LOG = join(ROOT, "test-artifacts", "soak.log");

describe("soak (the small one of CI; npm run soak runs 2,000 orders x 2 rounds)", () => {
  it("balances the ledger after 200 orders through faults, a kill -9, a RabbitMQ restart and a replay", async () => {
    mkdirSync(join(ROOT, "test-artifacts"), { recursive: true });
    rmSync(LOG, { force: true });
    const dir = mkdtempSync(join(tmpdir(), "glitchbuster-soak-"));
    const namespace = `test-${randomUUID()}`;
    const port = await freePort();
    const write = (line: string) => appendFileSync(LOG, `${line}\n`);
    try {
      const report = await runSoak({
        orders: 200,
        rounds: 1,
        main: join(ROOT, "dist", "main.js"),
        env: {
          PORT: String(port),
          HOST: "127.0.0.1",
          AMQP_URL: RABBITMQ_URL,
          BUS_NAMESPACE: namespace,
          EVENT_STORE_URL: `sqlite:${join(dir, "events.db")}`,
          ADMIN_TOKEN: "soak-test",
          LOG_LEVEL: "warn",
          METRICS_PORT: "0",
        },
        baseUrl: `http://127.0.0.1:${port}/api`,
        eventStorePath: join(dir, "events.db"),
        rabbitmqUrl: RABBITMQ_URL,
        adminToken: "soak-test",
        log: write,
        nodeOutput: write,
      });
      write(formatLedger(report));

      expect(report.violations).toEqual([]);
      expect(report.ledger).toMatchObject({ created: 200, lost: 0, appendedTwice: 0, heldPayments: 0 });
      expect(report.ledger.confirmed + report.ledger.rejected + report.ledger.cancelled).toBe(200);
      expect(report.ledger.rejected).toBeGreaterThan(0);
      expect(report.ledger.cancelled).toBeGreaterThan(0);
      expect(report.ledger.replayed).toBe(report.ledger.deadLettered);
    } finally {
      await deleteRabbitMqObjects(RABBITMQ_URL, namespace);
      await deleteRabbitMqObjects(RABBITMQ_URL, `MOL-${namespace}`);
      rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);
});

import { randomUUID } from "node:crypto";
import { appendFileSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { deleteRabbitMqObjects } from "../../tools/cluster/rabbitmq-control";
import { formatLedger, runSoak } from "../../tools/soak/soak";
import { freePort } from "../support/free-port";
import { createTestDatabase, runsOnPostgres } from "../support/event-stores";
import { RABBITMQ_URL } from "../support/rabbitmq";

const ROOT = join(__dirname, "..", "..");
const LOG = join(ROOT, "test-artifacts", "soak.log");
/** The relay lease's TTL (2 s) and a standby's next try, with room for a busy machine: what issue 12 asks. */
const TAKEOVER_BOUND_MS = 5000;

// On PostgreSQL, as the cluster runs: skipped (with a warning) only where it does not answer and CI is not set.
(runsOnPostgres ? describe : describe.skip)("soak on PostgreSQL (the small one of CI; npm run soak runs 2,000 orders x 2 rounds)", () => {
  it("balances the ledger after 200 orders through faults, kill -9 of an orchestrator and of the relay leader, a RabbitMQ restart and a replay", async () => {
    mkdirSync(join(ROOT, "test-artifacts"), { recursive: true });
    rmSync(LOG, { force: true });
    const database = await createTestDatabase();
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
          ADMIN_TOKEN: "soak-test",
          LOG_LEVEL: "warn",
          METRICS_PORT: "0",
        },
        baseUrl: `http://127.0.0.1:${port}/api`,
        eventStoreUrl: database.url,
        rabbitmqUrl: RABBITMQ_URL,
        adminToken: "soak-test",
        log: write,
        nodeOutput: write,
      });
      write(formatLedger(report));

      expect(report.violations).toEqual([]);
      expect(report.ledger).toMatchObject({ created: 200, lost: 0, appendedTwice: 0, heldPayments: 0, pastDeadline: 0 });
      expect(report.ledger.confirmed + report.ledger.rejected + report.ledger.cancelled).toBe(200);
      expect(report.ledger.rejected).toBeGreaterThan(0);
      expect(report.ledger.cancelled).toBeGreaterThan(0);
      expect(report.ledger.replayed).toBe(report.ledger.deadLettered);
      // The relay leader was killed, and the other relay took over.
      expect(report.relayFailover).toBeDefined();
      expect([report.relayFailover!.killed, report.relayFailover!.successor].sort()).toEqual(["relay", "relay-2"]);
      expect(report.relayFailover!.takeoverMs).toBeLessThan(TAKEOVER_BOUND_MS);
    } finally {
      await deleteRabbitMqObjects(RABBITMQ_URL, namespace);
      await deleteRabbitMqObjects(RABBITMQ_URL, `MOL-${namespace}`);
      await database.drop();
    }
  }, 300_000);
});

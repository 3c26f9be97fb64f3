import { ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const ROOT = join(__dirname, "..", "..");
/** Built by `npm test` (npm run compile) before jest runs. */
const ENTRY = join(ROOT, "dist", "repl", "main.js");
/** How long runUntil waits before typing a line again. */
const RETYPE_AFTER_MS = 100;
const PROMPT = "glitchbuster $ ";
const COMMAND_TIMEOUT_MS = 10_000;

/**
 * The REPL as a user drives it, through pipes: moleculer-repl runs Node's REPL on
 * process.stdin/stdout, which reads piped lines as typed ones (no echo, no redraws) and
 * prints the prompt again once a command has finished; that prompt ends each answer.
 */
class ReplSession {
  private stdout = "";
  private stderr = "";
  private readonly listeners = new Set<() => void>();
  readonly exitCode: Promise<number | null>;

  constructor(private readonly child: ChildProcessWithoutNullStreams) {
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      this.stdout += chunk;
      for (const listener of this.listeners) listener();
    });
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (this.stderr += chunk));
    this.exitCode = new Promise((resolve) => child.on("exit", (code) => resolve(code)));
  }

  /** Resolves with the output printed since `from` once it matches `pattern`. */
  waitForOutput(pattern: RegExp, from: number, timeoutMs = COMMAND_TIMEOUT_MS): Promise<string> {
    return new Promise((resolve, reject) => {
      const stop = () => {
        clearTimeout(timer);
        this.listeners.delete(check);
      };
      const check = () => {
        const text = this.stdout.slice(from);
        if (!pattern.test(text)) return;
        stop();
        resolve(text);
      };
      const timer = setTimeout(() => {
        stop();
        reject(new Error(`no ${pattern} within ${timeoutMs} ms; stdout since: ${this.stdout.slice(from)}\nstderr: ${this.stderr.slice(-3000)}`));
      }, timeoutMs);
      this.listeners.add(check);
      check();
    });
  }

  /** Types one line; answers what the REPL printed for it, up to its next prompt. */
  async run(line: string): Promise<string> {
    const from = this.stdout.length;
    this.child.stdin.write(`${line}\n`);
    const text = await this.waitForOutput(new RegExp(escape(PROMPT)), from);
    return text.slice(0, text.indexOf(PROMPT));
  }

  /** Types the line again until its answer matches: for what settles asynchronously. */
  async runUntil(line: string, pattern: RegExp, timeoutMs = COMMAND_TIMEOUT_MS): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const answer = await this.run(line);
      if (pattern.test(answer)) return answer;
      if (Date.now() > deadline) throw new Error(`'${line}' never answered ${pattern} within ${timeoutMs} ms; last answer:\n${answer}`);
      // A poll, not a flood: the REPL's own timers (the span exporter's among them) get their turn.
      await new Promise((resolve) => setTimeout(resolve, RETYPE_AFTER_MS));
    }
  }

  quit(): void {
    this.child.stdin.write("quit\n");
  }

  kill(): void {
    if (this.child.exitCode === null) this.child.kill();
  }
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
/** One row of a table of the REPL: its cells, whatever the padding. */
const row = (...cells: string[]) => new RegExp(`║ ${cells.map(escape).join(" +│ ")} +(│|║)`);
const UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";

describe("REPL (npm run repl, embedded app) driven through stdin/stdout", () => {
  let home: string;
  let repl: ReplSession;
  let orderId: string;

  beforeAll(async () => {
    if (!existsSync(ENTRY)) throw new Error(`${ENTRY} is missing: npm test builds it (npm run compile) before jest`);
    // moleculer-repl keeps its history in $HOME: a throwaway one.
    home = mkdtempSync(join(tmpdir(), "glitchbuster-repl-"));
    const child = spawn(process.execPath, [ENTRY], {
      cwd: ROOT,
      // Only what the test sets: nothing of the caller's TRANSPORTER, AMQP_URL or SERVICES.
      env: {
        PATH: process.env.PATH,
        HOME: home,
        EVENT_STORE_URL: "memory:",
        PORT: "0",
        HOST: "127.0.0.1",
        LOG_LEVEL: "warn",
        METRICS_PORT: "0",
        ADMIN_TOKEN: "x",
        BUS_NAMESPACE: `repl-test-${randomUUID()}`,
        RELAY_POLL_MS: "5",
        // A failing saga dead-letters after two quick attempts...
        BUS_RETRY_ATTEMPTS: "2",
        BUS_RETRY_BASE_MS: "10",
        BUS_RETRY_MAX_MS: "20",
        RETRY_RETRIES: "0",
        // ...and antifraud's breaker stays closed through those failures, so that the replay
        // is not refused while it would wait to half-open.
        BREAKER_MIN_REQUESTS: "100",
      },
      stdio: "pipe",
    });
    repl = new ReplSession(child);
    await repl.waitForOutput(new RegExp(escape(PROMPT)), 0);
  });

  afterAll(() => {
    repl?.kill();
    if (home) rmSync(home, { recursive: true, force: true });
  });

  it("order create places an order; saga show's timeline ends confirmed; order show has its history", async () => {
    const created = await repl.run("order create alice EUR book:2:1250 pen:1:300");
    expect(created).toMatch(row("customer", "alice"));
    expect(created).toMatch(row("total", "28.00 EUR"));
    expect(created).toMatch(row("book", "2", "12.50 EUR", "25.00 EUR"));
    orderId = new RegExp(`║ id +│ (${UUID})`).exec(created)![1]!;

    const saga = await repl.runUntil(`saga show ${orderId}`, row("outcome", "confirmed"));
    for (const step of ["checkFraud", "authorizePayment", "confirmOrder"]) expect(saga).toMatch(new RegExp(`SagaStepSucceeded +│ ${step}`));
    expect(saga).toMatch(/SagaEnded +│ +│ outcome=confirmed/);

    const shown = await repl.run(`order show ${orderId}`);
    expect(shown).toMatch(row("status", "confirmed"));
    expect(shown).toMatch(/║ 0 +│ OrderCreated +│ .+customerId=alice currency=EUR total=2800/);
    expect(shown).toMatch(/║ 1 +│ OrderConfirmed +│/);
  });

  it("saga trace draws the order's trace: each span under its parent, to the saga's end", async () => {
    const trace = await repl.runUntil(`saga trace ${orderId}`, /relay · publish SagaEnded/);

    // Made in the REPL, the order's trace starts at orders.create; each level below is one more mark.
    const spans = trace
      .split("\n")
      .filter((line) => line.startsWith("║"))
      .slice(1)
      .map((line) => line.split("│")[2]!.trim());
    expect(spans.slice(0, 4)).toEqual([
      "orders · action 'orders.create'",
      "› relay · publish OrderCreated",
      "› › orchestrator · consume OrderCreated",
      "› › › antifraud · action 'antifraud.check'",
    ]);
    expect(spans).toContain("› › › › relay · publish OrderConfirmed");
    expect(spans.at(-1)).toBe("› › › relay · publish SagaEnded");
    expect(trace).toMatch(/trace [0-9a-f]{32}: GET \/api\/traces\/[0-9a-f]{32}/);
  });

  it("order list shows the order as a table", async () => {
    const listed = await repl.run("order list --customer alice");
    expect(listed).toMatch(row("id", "customer", "status", "total", "reason", "created"));
    expect(listed).toMatch(row(orderId, "alice", "confirmed", "28.00 EUR"));
    expect(await repl.run("order list --customer nobody")).toMatch(/^no orders$/m);
  });

  it("chaos set antifraud --failure-rate 1 is what chaos get reads back", async () => {
    expect(await repl.run("chaos set antifraud --failure-rate 1")).toMatch(row("antifraud", "1", "0", "error"));
    const read = await repl.run("chaos get");
    expect(read).toMatch(row("antifraud", "1", "0", "error"));
    expect(read).toMatch(row("payments", "0", "0", "error"));
  });

  it("load 5 under that fault dead-letters every order, and dlq list shows them", async () => {
    const loaded = await repl.run("load 5");
    expect(loaded).toMatch(/placing: 5\/5/);
    expect(loaded).toMatch(row("pending, dead-lettered", "see dlq list", "5"));
    expect(loaded).toMatch(/placed 5 of 5 orders in [\d.]+ s \([\d.]+ orders\/s\); all settled or dead-lettered after/);

    const dead = await repl.run("dlq list --status dead");
    const rows = dead.match(
      new RegExp(
        `║ ${UUID} +│ dead +│ orchestrator +│ OrderCreated +│ ${UUID} +│ 2 +│ [0-9a-f]{12} +│ MoleculerRetryableError: chaos: antifraud failed on purpose`,
        "g",
      ),
    );
    expect(rows).toHaveLength(5);

    const groups = await repl.run("dlq groups");
    expect(groups).toMatch(/║ [0-9a-f]{12} +│ 5 +│ MoleculerRetryableError: chaos: antifraud failed on purpose +│ orchestrator +│ OrderCreated +│/);
  });

  it("dlq edit fixes a dead message's payload, checked against its event's schema, before the replay", async () => {
    const [, id, orderId] = new RegExp(`║ (${UUID}) +│ dead +│ orchestrator +│ OrderCreated +│ (${UUID})`).exec(
      await repl.run("dlq list --status dead --limit 1"),
    )!;

    const refused = await repl.run(`dlq edit ${id} [{"op":"replace","path":"/data/total","value":-1}] a negative total`);
    expect(refused).toMatch(/^✖ 422 PAYLOAD_INVALID: the patched payload is not a valid OrderCreated$/m);
    const edited = await repl.run(`dlq edit ${id} [{"op":"replace","path":"/data/customerId","value":"alice-fixed"}] customer id typed wrong`);
    expect(edited).toMatch(new RegExp(`^dead letter ${id} edited; a replay sends this payload:$`, "m"));
    expect(edited).toMatch(/"customerId": "alice-fixed"/);
    const shown = await repl.run(`dlq show ${id}`);
    expect(shown).toMatch(/║ edited +│ .+ by repl:\S+: customer id typed wrong +║/);
    expect(shown).toMatch(new RegExp(`"orderId": "${orderId}"`));
  });

  it("with the fault gone, breakers shows antifraud.check, and dlq replay --all lets the orders settle", async () => {
    expect(await repl.run("chaos set antifraud --failure-rate 0")).toMatch(row("antifraud", "0", "0", "error"));

    const breakers = await repl.run("breakers");
    expect(breakers).toMatch(row("caller node", "target node", "action", "state", "count", "failures"));
    expect(breakers).toMatch(/│ antifraud\.check +│ closed +│ \d+ +│ 10 +║/);
    expect(breakers).toMatch(/^DLQ depth: 5 dead letters$/m);

    const replayed = await repl.run("dlq replay --all");
    expect(replayed).toMatch(new RegExp(`^replay job ${UUID}: 5 dead letters at 100/s$`, "m"));
    expect(replayed).toMatch(/^replay job: 5\/5$/m);
    expect(replayed).toMatch(row("status", "done"));
    expect(replayed).toMatch(row("replayed", "5"));
    expect(replayed).toMatch(/^replay job done: replayed 5 of 5 dead letters, 0 skipped, 0 failed$/m);
    const jobId = new RegExp(`║ job +│ (${UUID})`).exec(replayed)![1]!;
    expect(await repl.run(`dlq job ${jobId}`)).toMatch(/║ by +│ repl:\S+@\S+ +║/);
    expect(await repl.run(`dlq cancel-job ${jobId}`)).toMatch(new RegExp(`^✖ 409 DLQ_JOB_ENDED: job ${jobId} has ended: done$`, "m"));
    await repl.runUntil("order list --status pending", /^no orders$/m);
    expect(await repl.run("dlq list --status dead")).toMatch(/^no dead letters$/m);
  });

  it("projection rebuild orders draws its progress, swaps the new table in, and the order list reads the same", async () => {
    const before = await repl.run("order list --limit 100");

    const rebuilt = await repl.run("projection rebuild orders");

    expect(rebuilt).toMatch(/^rebuilding orders into a new table up to position \d+ while the old one serves$/m);
    expect(rebuilt).toMatch(/^rebuilding orders: 1000\/1000$/m);
    expect(rebuilt).toMatch(row("last rebuild", "done"));
    expect(rebuilt).toMatch(/^orders: rebuilt and swapped in, 6 rows$/m);
    expect(await repl.run("order list --limit 100")).toBe(before);
    expect(await repl.run("projection show dead-letters")).toMatch(row("rows", "5"));
  });

  it.each([
    ["projection rebuild payments", /^✖ <name> must be one of orders, dead-letters, sagas, not 'payments'$/m],
    ["order create alice euro book:1:100", /^✖ 422 VALIDATION_ERROR: The 'currency' field must be an ISO 4217 code of three capital letters\.$/m],
    [`order show ${randomUUID()}`, /^✖ 404 ORDER_NOT_FOUND: order .+ not found$/m],
    ["chaos set antifraud --failure-rate 2", /^✖ --failure-rate must be a number from 0 to 1, not '2'$/m],
    ["order create alice EUR book:one:100", /^✖ 'book:one:100' is not productId:quantity:unitPrice/m],
    ["dlq list --colour red", /^✖ Unknown option '--colour'/m],
  ])("'%s' answers one clear error line, never a stack", async (line, error) => {
    const answer = await repl.run(line);
    expect(answer).toMatch(error);
    expect(answer).not.toMatch(/^\s+at /m);
  });

  it("quit ends the process with 0", async () => {
    repl.quit();
    expect(await repl.exitCode).toBe(0);
  });
});

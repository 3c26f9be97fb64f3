import { ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { waitFor } from "../../tools/wait-for";
import { freePort } from "./free-port";

/** The compiled entry point of `npm start`: `npm test` (npm run compile) writes it before jest runs. */
export const MAIN = join(__dirname, "..", "..", "dist", "main.js");

/** Lines of a child's output kept to show when a test fails. */
const KEPT_LINES = 200;

/** `node dist/main.js` as a child process: the embedded mode exactly as `npm start` runs it. */
export interface AppProcess {
  child: ChildProcess;
  baseUrl: string;
  /** The last lines the process printed (stdout and stderr). */
  output: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Starts `node dist/main.js` with `env` on top of a clean embedded configuration (no
 * transporter, the memory bus) and waits until GET /api/health answers 200.
 */
export async function startAppProcess(env: Record<string, string>, healthyWithinMs = 30_000): Promise<AppProcess> {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run npm run compile`);
  const port = env.PORT ? Number(env.PORT) : await freePort();
  const inherited = { ...process.env };
  for (const name of ["AMQP_URL", "TRANSPORTER", "SERVICES", "NODE_ID", "PORT", "METRICS_PORT"]) delete inherited[name];
  const child = spawn(process.execPath, [MAIN], {
    env: { ...inherited, PORT: String(port), HOST: "127.0.0.1", METRICS_PORT: "0", LOG_LEVEL: "warn", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output: string[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on("line", (line) => {
      output.push(line);
      if (output.length > KEPT_LINES) output.shift();
    });
  }
  const exited = once(child, "exit").then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }));
  const app: AppProcess = { child, baseUrl: `http://127.0.0.1:${port}/api`, output, exited };
  let gone = false;
  void exited.then(() => (gone = true));
  try {
    await waitFor(
      async () => {
        if (gone) throw new Error(`the process exited before it was healthy:\n${output.join("\n")}`);
        return fetch(`${app.baseUrl}/health`).then(
          (response) => response.ok,
          () => false,
        );
      },
      { timeoutMs: healthyWithinMs, intervalMs: 50, what: "the process to be healthy" },
    );
  } catch (error) {
    child.kill("SIGKILL");
    throw error;
  }
  return app;
}

/** Sends `signal` and waits for the exit; a process still there after `withinMs` is killed (-9) and reported. */
export async function stopAppProcess(
  app: AppProcess,
  signal: NodeJS.Signals,
  withinMs = 30_000,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }> {
  const started = Date.now();
  if (app.child.exitCode === null && app.child.signalCode === null) app.child.kill(signal);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<"late">((resolve) => (timer = setTimeout(() => resolve("late"), withinMs)));
  const outcome = await Promise.race([app.exited, late]);
  clearTimeout(timer);
  if (outcome === "late") {
    app.child.kill("SIGKILL");
    await app.exited;
    throw new Error(`the process did not exit within ${withinMs} ms of ${signal}:\n${app.output.join("\n")}`);
  }
  return { ...outcome, ms: Date.now() - started };
}

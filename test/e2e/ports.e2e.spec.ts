import { spawn } from "node:child_process";
import { once } from "node:events";
import { Server, createServer } from "node:net";
import { MAIN, startAppProcess, stopAppProcess } from "../support/app-process";
import { freePort } from "../support/free-port";

/** `node dist/main.js` run to its end: exit code, what it printed, how long it took. */
async function runMain(env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  const inherited = { ...process.env };
  for (const name of ["AMQP_URL", "TRANSPORTER", "SERVICES", "PORT", "METRICS_PORT"]) delete inherited[name];
  const started = Date.now();
  const child = spawn(process.execPath, [MAIN], {
    env: { ...inherited, EVENT_STORE_URL: "memory:", LOG_LEVEL: "warn", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const [code] = (await once(child, "exit")) as [number | null];
  return { code, stdout, stderr, ms: Date.now() - started };
}

/** Someone else's server on a port: what the app must not take, and must say so. */
async function occupy(): Promise<{ port: number; server: Server }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no port");
  return { port: address.port, server };
}

describe("a port that is taken", () => {
  it.each(["PORT", "METRICS_PORT"] as const)("%s in use: one line naming the variable and the port, exit 1, at once", async (variable) => {
    const taken = await occupy();
    try {
      const free = String(await freePort());
      const env = variable === "PORT" ? { PORT: String(taken.port), METRICS_PORT: "0" } : { PORT: free, METRICS_PORT: String(taken.port) };

      const run = await runMain(env);

      expect(run.code).toBe(1);
      expect(run.stderr).toBe(`${variable}=${taken.port}: the port is already in use; set ${variable} to a free port (0: any free port)\n`);
      expect(run.stdout).toBe("");
      // An order of magnitude, not a timing: it fails before starting anything.
      expect(run.ms).toBeLessThan(10_000);
    } finally {
      taken.server.close();
    }
  });

  it("two `npm start` on different PORTs both run: the default METRICS_PORT follows PORT", async () => {
    const first = await freePort();
    let second = await freePort();
    while (Math.abs(second - first) <= 30) second = await freePort();
    const apps = [];
    try {
      for (const port of [first, second]) {
        // METRICS_PORT left to its default (PORT + 30), as `npm start` has it.
        apps.push(await startAppProcess({ PORT: String(port), METRICS_PORT: "", EVENT_STORE_URL: "memory:" }));
      }
      for (const [index, port] of [first, second].entries()) {
        expect(apps[index]!.baseUrl).toBe(`http://127.0.0.1:${port}/api`);
        const metrics = await fetch(`http://127.0.0.1:${port + 30}/metrics`);
        expect(metrics.status).toBe(200);
      }
    } finally {
      for (const app of apps) await stopAppProcess(app, "SIGTERM");
    }
  });
});

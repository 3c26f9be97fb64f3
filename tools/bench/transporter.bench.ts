import { fork } from "node:child_process";
import { once } from "node:events";
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { ServiceBroker, Transporters } from "moleculer";
import { transporterOptions } from "../../moleculer.config";

export interface TransporterFigures {
  options: "ours (noDelay, prefetch 100)" | "Moleculer's defaults";
  sequentialP50Ms: number;
  sequentialP99Ms: number;
  callsPerSecondAt100InFlight: number;
}

const SEQUENTIAL_CALLS = Number(process.env.BENCH_SEQUENTIAL_CALLS ?? 2000);
const PARALLEL_SECONDS = Number(process.env.BENCH_PARALLEL_S ?? 5);

/** Remote action calls over the AMQP transporter between two processes of this machine. */
export async function benchTransporter(distDir: string, amqpUrl: string, defaults: boolean): Promise<TransporterFigures> {
  const namespace = `bench-${randomUUID()}`;
  const env = { ...process.env, TRANSPORTER: amqpUrl, BUS_NAMESPACE: namespace, ...(defaults ? { BENCH_TRANSPORTER_DEFAULTS: "1" } : {}) };
  const echo = fork(join(distDir, "tools/bench/echo-node.js"), { env });
  await once(echo, "message");
  const broker = new ServiceBroker({
    namespace,
    nodeID: "caller",
    logger: false,
    transporter: defaults ? Transporters.resolve(amqpUrl) : transporterOptions(amqpUrl),
  });
  await broker.start();
  await broker.waitForServices("echo");
  try {
    const sequential = Math.min(SEQUENTIAL_CALLS, defaults ? 100 : SEQUENTIAL_CALLS);
    const latencies: number[] = [];
    for (let call = 0; call < sequential; call += 1) {
      const started = process.hrtime.bigint();
      await broker.call("echo.ping", { call });
      latencies.push(Number(process.hrtime.bigint() - started) / 1e6);
    }
    latencies.sort((a, b) => a - b);

    let calls = 0;
    const until = Date.now() + PARALLEL_SECONDS * 1000;
    await Promise.all(
      Array.from({ length: 100 }, async () => {
        while (Date.now() < until) {
          await broker.call("echo.ping", { calls });
          calls += 1;
        }
      }),
    );
    return {
      options: defaults ? "Moleculer's defaults" : "ours (noDelay, prefetch 100)",
      sequentialP50Ms: round(latencies[Math.floor(latencies.length * 0.5)]!),
      sequentialP99Ms: round(latencies[Math.floor(latencies.length * 0.99)]!),
      callsPerSecondAt100InFlight: Math.round(calls / PARALLEL_SECONDS),
    };
  } finally {
    await broker.stop();
    echo.kill("SIGTERM");
    await once(echo, "exit");
  }
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

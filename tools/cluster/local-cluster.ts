import { ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { CLUSTER_NODES, ClusterNode, nodeEnvironment } from "./nodes";

export interface RunningNode {
  node: ClusterNode;
  process: ChildProcess;
}

export interface LocalClusterOptions {
  /** The compiled entry point each node runs: dist/main.js. */
  main: string;
  env: NodeJS.ProcessEnv;
  /** Where each line a node prints goes, prefixed with the node's name. */
  output?: (line: string) => void;
  nodes?: readonly ClusterNode[];
}

const NAME_WIDTH = Math.max(...CLUSTER_NODES.map((node) => node.name.length));

/** The cluster's nodes as child processes of this one, each `node dist/main.js` with its SERVICES. */
export class LocalCluster {
  readonly running = new Map<string, RunningNode>();

  constructor(private readonly options: LocalClusterOptions) {}

  startAll(): void {
    for (const node of this.options.nodes ?? CLUSTER_NODES) this.start(node);
  }

  start(node: ClusterNode): RunningNode {
    const child = spawn(process.execPath, [this.options.main], { env: nodeEnvironment(node, this.options.env), stdio: ["ignore", "pipe", "pipe"] });
    const output = this.options.output;
    const prefix = `${node.name.padEnd(NAME_WIDTH)} |`;
    for (const stream of [child.stdout, child.stderr]) {
      const lines = createInterface({ input: stream });
      lines.on("line", (line) => output?.(`${prefix} ${line}`));
    }
    output?.(`${prefix} started, pid ${child.pid}`);
    child.once("exit", (code, signal) => output?.(`${prefix} exited, ${code === null ? `signal ${signal}` : `code ${code}`}`));
    const running = { node, process: child };
    this.running.set(node.name, running);
    return running;
  }

  /** SIGKILL: no goodbye to RabbitMQ, no ack, no cleanup. */
  async kill(name: string): Promise<void> {
    const running = this.running.get(name);
    if (running?.process.exitCode !== null || running.process.signalCode !== null) return;
    running.process.kill("SIGKILL");
    await once(running.process, "exit");
  }

  /** SIGTERM to every node; resolves with each node's exit code (or the signal that ended it). */
  async stopAll(): Promise<Record<string, number | NodeJS.Signals | null>> {
    const exits = [...this.running.values()].map(async ({ node, process: child }) => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        await once(child, "exit");
      }
      return [node.name, child.exitCode ?? child.signalCode] as const;
    });
    return Object.fromEntries(await Promise.all(exits));
  }
}

import "../lib/supported-node";
import { join } from "node:path";
import { LocalCluster } from "../cluster/local-cluster";
import { CLUSTER_NODES } from "../cluster/nodes";

/**
 * `npm run start:cluster`: one node per service (two orchestrators) against the local
 * RabbitMQ, all sharing one SQLite event store file: the cluster of docker-compose.yml for
 * people without Docker. Ctrl-C stops every node cleanly.
 */
const cluster = new LocalCluster({ main: join(__dirname, "..", "main.js"), env: process.env, output: (line) => console.log(line) });
console.log(`starting ${CLUSTER_NODES.map((node) => node.name).join(", ")}`);
cluster.startAll();

let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal}: stopping every node`);
    void cluster.stopAll().then((codes) => {
      console.log(`stopped: ${JSON.stringify(codes)}`);
      process.exit(Object.values(codes).every((code) => code === 0) ? 0 : 1);
    });
  });
}

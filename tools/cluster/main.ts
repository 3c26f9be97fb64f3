import "../../supported-node";
import { join } from "node:path";
import { clusterStore } from "./cluster-store";
import { LocalCluster } from "./local-cluster";
import { CLUSTER_NODES } from "./nodes";

/**
 * `npm run start:cluster`: one node per service (two orchestrators) against the local
 * RabbitMQ, sharing one event store: EVENT_STORE_URL, else PostgreSQL on 127.0.0.1:5432 when
 * it answers, else an SQLite file (with a warning). The cluster of docker-compose.yml for
 * people without Docker. Ctrl-C stops every node cleanly.
 */
async function main(): Promise<void> {
  const store = await clusterStore(process.env);
  (store.warning ? console.warn : console.log)(store.note);
  const cluster = new LocalCluster({
    main: join(__dirname, "..", "..", "main.js"),
    env: { ...process.env, EVENT_STORE_URL: store.url },
    output: (line) => console.log(line),
  });
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
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

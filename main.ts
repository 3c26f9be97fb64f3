import "./supported-node";
import { loadConfig } from "./config";
import { PortInUse, createNode, ensurePortsFree } from "./node";

/**
 * Starts the services that SERVICES names (all of them by default) in one broker. The broker
 * stops them in order and exits 0 on SIGINT/SIGTERM. A port in use is one line and exit 1.
 */
async function main(): Promise<void> {
  const config = loadConfig();
  await ensurePortsFree(config);
  await createNode(config).start();
}

main().catch((error: unknown) => {
  console.error(error instanceof PortInUse ? error.message : error);
  process.exit(1);
});

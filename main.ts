import "./lib/supported-node";
import { loadConfig } from "./config";
import { createNode } from "./node";

/**
 * Starts the services that SERVICES names (all of them by default) in one broker. The broker
 * stops them in order and exits 0 on SIGINT/SIGTERM.
 */
createNode(loadConfig())
  .start()
  .catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });

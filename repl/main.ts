import "../supported-node";
import REPL from "moleculer-repl";
import { loadConfig } from "../config";
import { PortInUse, createNode, ensurePortsFree } from "../node";
import { retireBuiltinLoad } from "./builtin-load";
import { toCustomCommand } from "./command";
import { glitchbusterCommands } from "./commands";

/**
 * `npm run repl`: moleculer-repl with GlitchBuster's commands (order, saga, dlq, chaos, projection,
 * breakers, load). With TRANSPORTER set it joins that cluster as a node that runs none of
 * the app's services (only the per-node resilience service); without, it runs the whole app
 * in this process like `npm start`, so that it works alone on a fresh clone.
 */
async function main(): Promise<void> {
  // Warnings (a breaker opening, a dead letter) are worth seeing between commands; the info
  // lines of every service starting would bury the prompt. LOG_LEVEL still decides.
  const config = loadConfig({ LOG_LEVEL: "warn", ...process.env });
  const services = config.transporter ? [] : undefined;
  await ensurePortsFree(config, services);
  const broker = createNode(config, services);
  await broker.start();
  retireBuiltinLoad();
  // moleculer-repl itself rather than broker.repl(), which reads the commands from broker
  // options that createNode builds; the REPL exits the process on `quit` and at end of input.
  REPL(broker, { delimiter: "glitchbuster $", customCommands: glitchbusterCommands(config).map(toCustomCommand) });
}

main().catch((error: unknown) => {
  console.error(error instanceof PortInUse ? error.message : error);
  process.exit(1);
});

import { AppConfig } from "../../config";
import { ReplCommand } from "../command";
import { breakersCommand } from "./breakers";
import { chaosCommand } from "./chaos";
import { dlqCommand } from "./dlq";
import { loadCommand } from "./load";
import { orderCommand } from "./order";
import { projectionCommand } from "./projection";
import { sagaCommand } from "./saga";

/** Every command GlitchBuster adds to moleculer-repl's own. */
export function glitchbusterCommands(config: AppConfig): ReplCommand[] {
  return [orderCommand, sagaCommand, dlqCommand, chaosCommand, breakersCommand, loadCommand(config.payments.limit), projectionCommand];
}

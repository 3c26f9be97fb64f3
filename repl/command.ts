import { hostname, userInfo } from "node:os";
import { parseArgs } from "node:util";
import { CallingOptions, ServiceBroker } from "moleculer";
import { ADMIN_META_KEY } from "../middlewares/admin-audit";
// The package root types only its function; the declarations of its options live here.
import type { CustomCommand } from "moleculer-repl/types/src";
import { Output, ReplHelpers } from "./output";
import { UsageError } from "./usage-error";

export { UsageError };

export interface CommandContext {
  broker: ServiceBroker;
  out: Output;
  /**
   * Calling options of an admin action: the REPL runs inside the cluster and needs no token,
   * but what it does is recorded like an admin route's, under the name of who typed it.
   */
  operator: CallingOptions;
}

/** Who the REPL acts for: the account that runs it, on its host. */
function replOperator(): CallingOptions {
  return { meta: { [ADMIN_META_KEY]: `repl:${userInfo().username}@${hostname()}` } };
}

/** One first word of the REPL (`order`, `dlq`, `load`...) and what it runs. */
export interface ReplCommand {
  name: string;
  /** What it is for, in the list of `help`. */
  summary: string;
  /** One line per form, the name included: the help text, and the hint after a usage error. */
  usage: readonly string[];
  /** `args`: every word typed after the name, options included, in order. */
  run(context: CommandContext, args: string[]): Promise<void>;
}

export interface Subcommand {
  /** What follows `<command> <subcommand>`, e.g. "<id>". */
  usage: string;
  run(context: CommandContext, args: string[]): Promise<void>;
}

/** A command whose first word says what to do: `order create ...`, `order show ...`; alone, it lists its forms. */
export function commandGroup(name: string, summary: string, subcommands: Record<string, Subcommand>): ReplCommand {
  const usage = Object.entries(subcommands).map(([sub, subcommand]) => `${name} ${sub} ${subcommand.usage}`.trimEnd());
  return {
    name,
    summary: `${summary} (\`${name}\` alone lists its forms)`,
    usage,
    async run(context, [sub, ...rest]) {
      if (sub === undefined) {
        for (const form of usage) context.out.line(form);
        return;
      }
      if (!Object.hasOwn(subcommands, sub)) throw new UsageError(`${name} has no subcommand '${sub}'`);
      const subcommand = subcommands[sub]!;
      try {
        await subcommand.run(context, rest);
      } catch (error) {
        if (error instanceof UsageError && !error.usage) throw new UsageError(error.message, [`${name} ${sub} ${subcommand.usage}`.trimEnd()]);
        throw error;
      }
    },
  };
}

type OptionTypes = Record<string, { type: "string" | "boolean" }>;

/** Positionals and --options of what was typed (node:util parseArgs); an unknown option is a usage error. */
export function parseWords<const Options extends OptionTypes>(args: string[], options: Options) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (error) {
    // Some of its messages run over several lines: one line, as every error of the REPL.
    throw new UsageError((error as Error).message.replace(/\s*\n\s*/g, " "));
  }
}

/** The number typed for `label` ("--limit", "<n>"), within bounds; undefined when not given. */
export function numberOption(
  label: string,
  text: string | undefined,
  { min, max, integer }: { min: number; max: number; integer: boolean },
): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (text.trim() === "" || !Number.isFinite(value) || value < min || value > max || (integer && !Number.isInteger(value))) {
    throw new UsageError(`${label} must be ${integer ? "an integer" : "a number"} from ${min} to ${max}, not '${text}'`);
  }
  return value;
}

/** `text` typed for `label` if it is one of `allowed`, typed as such; undefined when not given. */
export function choiceOption<const Allowed extends string>(label: string, text: string | undefined, allowed: readonly Allowed[]): Allowed | undefined {
  if (text === undefined) return undefined;
  const found = allowed.find((value) => value === text);
  if (found === undefined) throw new UsageError(`${label} must be one of ${allowed.join(", ")}, not '${text}'`);
  return found;
}

/** What moleculer-repl's preAction hook hands a custom parser: the commander command. */
interface ParsedCommand {
  args: string[];
  params?: string[];
}

/**
 * The command as moleculer-repl 0.7 registers it (src/index.js registerCustomCommands). Its
 * own parser maps each declared argument to one operand and sends options through
 * yargs-parser, which loses the order of variadic words; a custom `parse` hands every word
 * to the command as typed instead.
 */
export function toCustomCommand(command: ReplCommand): CustomCommand {
  return {
    command: `${command.name} [args...]`,
    description: command.summary,
    alias: null,
    allowUnknownOptions: true,
    options: [],
    parse(parsed: ParsedCommand) {
      parsed.params = [...parsed.args];
    },
    async action(broker: ServiceBroker, args: string[], helpers: ReplHelpers) {
      const out = new Output(helpers);
      // Anything thrown from here would reach moleculer-repl, which logs it with its stack.
      try {
        await command.run({ broker, out, operator: replOperator() }, args);
      } catch (error) {
        out.failure(error, command.usage);
      }
    },
  };
}

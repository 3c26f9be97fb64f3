/** The part of a commander program that holds its commands. */
interface CommandList {
  commands: { name(): string }[];
}

/** A module of moleculer-repl's src/commands: each declares its commands on the program. */
interface BuiltinCommandModule {
  register: (program: CommandList, broker: unknown) => void;
}

/**
 * moleculer-repl (0.7 and 0.8) has a `load <servicePath>` of its own, and commander runs the first
 * command of a name, so our `load` would never run (the REPL's duplicate check compares
 * `def.name`, which a custom command has not). The REPL reads `register` from each module
 * of src/commands when it starts: this one, called before, wraps it to take the built-in
 * `load` off the program again (its `loadFolder` stays).
 */
export function retireBuiltinLoad(): void {
  // Not part of the package's typed API: a path of moleculer-repl 0.8.0 (unchanged since 0.7), pinned in package.json.
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- a module of the package's source, loaded when the REPL starts, not at import
  const builtin = require("moleculer-repl/src/commands/load") as BuiltinCommandModule;
  const register = builtin.register;
  builtin.register = (program, broker) => {
    register(program, broker);
    const builtinLoad = program.commands.findIndex((command) => command.name() === "load");
    if (builtinLoad >= 0) program.commands.splice(builtinLoad, 1);
  };
}

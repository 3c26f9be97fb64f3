import { Errors } from "moleculer";
import { ProgressBar } from "./progress-bar";
import { UsageError } from "./usage-error";

type Paint = (text: string) => string;

/** What moleculer-repl 0.7 hands each custom command (src/index.js), as far as we use it. */
export interface ReplHelpers {
  table: (rows: string[][], config: TableConfig) => string;
  getBorderCharacters: (template: "honeywell") => Record<string, string>;
  kleur: Record<"bold" | "gray" | "red" | "green" | "yellow", Paint>;
  clui: { Progress: new (width: number) => { update(value: number, max: number): string } };
}

interface TableConfig {
  border: Record<string, string>;
  drawHorizontalLine: (index: number, size: number) => boolean;
}

export type Cell = string | number | null | undefined;

/** What a command prints: tables in the style of moleculer-repl's own commands, one-line errors. */
export class Output {
  constructor(
    private readonly helpers: ReplHelpers,
    private readonly stream: NodeJS.WriteStream = process.stdout,
  ) {}

  line(text: string): void {
    this.stream.write(`${text}\n`);
  }

  /** A header row and one row per item; `empty` instead when there is none. */
  table(headers: readonly string[], rows: readonly Cell[][], empty = "none"): void {
    if (rows.length === 0) {
      this.line(this.helpers.kleur.gray(empty));
      return;
    }
    const { kleur } = this.helpers;
    this.render([headers.map((header) => kleur.bold(header)), ...rows.map((row) => row.map(cellText))], 1);
  }

  /** One record, a name and a value per row. */
  fields(pairs: readonly (readonly [string, Cell])[]): void {
    const { kleur } = this.helpers;
    this.render(
      pairs.map(([name, value]) => [kleur.bold(name), cellText(value)]),
      0,
    );
  }

  success(text: string): void {
    this.line(this.helpers.kleur.green(text));
  }

  note(text: string): void {
    this.line(this.helpers.kleur.gray(text));
  }

  progress(label: string, total: number): ProgressBar {
    return new ProgressBar(label, total, new this.helpers.clui.Progress(30), this.stream);
  }

  /**
   * One line for what went wrong: the code, type and message of an error the cluster
   * answered (a 4xx is the caller's mistake, its stack says nothing), the usage after a
   * typing mistake (`usage`: the command's forms, unless the error names its own). Only an
   * error of the REPL itself shows its stack.
   */
  failure(error: unknown, usage: readonly string[]): void {
    const { kleur } = this.helpers;
    this.line(kleur.red(`✖ ${describeError(error)}`));
    if (error instanceof UsageError) {
      for (const form of error.usage ?? usage) this.line(kleur.gray(`  usage: ${form}`));
    } else if (!(error instanceof Errors.MoleculerError) && error instanceof Error && error.stack) {
      this.line(kleur.gray(error.stack));
    }
  }

  private render(rows: string[][], headerRows: number): void {
    const { table, getBorderCharacters, kleur } = this.helpers;
    const border = Object.fromEntries(Object.entries(getBorderCharacters("honeywell")).map(([name, char]) => [name, kleur.gray(char)]));
    this.stream.write(
      table(rows, {
        border,
        drawHorizontalLine: (index, size) => index === 0 || index === headerRows || index === size,
      }),
    );
  }
}

function cellText(value: Cell): string {
  if (value === null || value === undefined) return "";
  // Cells stay on one line: a multi-line error message would break the table's rows.
  return String(value).replace(/\s+/g, " ");
}

/** One line for an error: code, type and message of a Moleculer error, or the message. */
export function describeError(error: unknown): string {
  if (error instanceof Errors.ValidationError && Array.isArray(error.data)) {
    const reasons = error.data.flatMap((entry: { message?: unknown }) => (typeof entry.message === "string" ? [entry.message] : []));
    return `${error.code} ${error.type}: ${reasons.length > 0 ? reasons.join(" ") : error.message}`;
  }
  if (error instanceof Errors.MoleculerError) return `${error.code} ${error.type}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}

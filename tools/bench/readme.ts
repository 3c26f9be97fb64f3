import "../../supported-node";
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { BenchResults, rowsOf, table } from "./rows";

interface ResultsFile {
  at: string;
  node: string;
  cpus: number;
  command: string;
  results: BenchResults;
}

const START = "<!-- bench:start (written by npm run bench:readme) -->";
const END = "<!-- bench:end -->";

/**
 * The median of each figure over several runs: numbers leaf by leaf (a run without the part
 * counts for nothing), anything else as the first run that has it says.
 */
export function medianOf(values: readonly unknown[]): unknown {
  const present = values.filter((value) => value !== undefined);
  const first = present[0];
  if (typeof first === "number") {
    const sorted = present.filter((value): value is number => typeof value === "number").sort((a, b) => a - b);
    const middle = Math.floor(sorted.length / 2);
    const median = sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
    return Math.round(median * 100) / 100;
  }
  if (first !== null && typeof first === "object" && !Array.isArray(first)) {
    const keys = new Set(present.flatMap((value) => Object.keys(value as object)));
    return Object.fromEntries([...keys].map((key) => [key, medianOf(present.map((value) => (value as Record<string, unknown>)[key]))]));
  }
  return first;
}

/**
 * `npm run bench:readme [-- results files...]`: README's Performance table from results
 * files (by default every file of the newest day in tools/bench/results/), the median of each figure
 * where a part ran more than once, each row with the command that measures it.
 */
function main(): void {
  const root = join(__dirname, "..", "..", "..");
  const dir = join(root, "tools", "bench", "results");
  let files = process.argv.slice(2);
  if (files.length === 0) {
    const all = readdirSync(dir)
      .filter((name) => /^\d{4}-\d\d-\d\dT.*\.json$/.test(name))
      .sort();
    const day = all[all.length - 1]?.slice(0, 10);
    files = all.filter((name) => name.startsWith(day ?? "-")).map((name) => join(dir, name));
  }
  if (files.length === 0) throw new Error(`no results file in ${dir}: run npm run bench first`);
  // Files written before results were kept per part have no `results`: left out.
  const read = files.map((file) => ({ file, run: JSON.parse(readFileSync(file, "utf8")) as Partial<ResultsFile> }));
  const kept = read.filter((entry): entry is { file: string; run: ResultsFile } => entry.run.results !== undefined);
  if (kept.length === 0) throw new Error(`none of ${files.join(", ")} holds results of npm run bench`);
  files = kept.map((entry) => entry.file);
  const runs = kept.map((entry) => entry.run);
  const results = medianOf(runs.map((run) => run.results)) as BenchResults;
  const counts = (key: keyof BenchResults) => runs.filter((run) => run.results[key] !== undefined).length;
  const parts = (Object.keys(results) as (keyof BenchResults)[]).map((key) => `${key} ${counts(key)}`).join(", ");
  const section = [
    START,
    `Medians over ${runs.length} results files (${runs[0]!.cpus} cores, Node ${runs[0]!.node.replace(/^v/, "")}; runs per part: ${parts}):`,
    files.map((file) => `\`tools/bench/results/${basename(file)}\``).join(", ") + ".",
    "",
    table(rowsOf(results)),
    END,
  ].join("\n");
  const readmePath = join(root, "README.md");
  const readme = readFileSync(readmePath, "utf8");
  const start = readme.indexOf(START);
  const end = readme.indexOf(END);
  if (start < 0 || end < start) throw new Error(`README.md has no ${START} ... ${END} section`);
  writeFileSync(readmePath, readme.slice(0, start) + section + readme.slice(end + END.length));
  console.log(section);
}

main();

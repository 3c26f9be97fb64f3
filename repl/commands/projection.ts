import { setTimeout as sleep } from "node:timers/promises";
import { PROJECTIONS, ProjectionName } from "../../adapters/read-model/catalog";
import { ProjectionReport } from "../../adapters/read-model/projection";
import { UsageError, choiceOption, commandGroup, parseWords } from "../command";
import { instant } from "../format";
import { Output } from "../output";

const NAMES = Object.keys(PROJECTIONS) as ProjectionName[];
/** Pause between two looks at a rebuild under way. */
const POLL_MS = 200;
/** The bar counts per mille of the way from the first event to the log's head at the start. */
const BAR_STEPS = 1000;

/** The one projection name a subcommand takes. */
function projectionName(command: string, args: string[]): ProjectionName {
  const [name, ...extra] = parseWords(args, {}).positionals;
  if (name === undefined || extra.length > 0) throw new UsageError(`projection ${command} takes one name: ${NAMES.join(", ")}`);
  return choiceOption("<name>", name, NAMES)!;
}

function printReport(out: Output, report: ProjectionReport): void {
  out.fields([
    ["projection", report.name],
    ["last rebuild", report.status],
    ["position", report.position],
    ["rows", report.rows],
    ["started", instant(report.startedAt)],
    ["finished", instant(report.finishedAt)],
    ["error", report.error],
  ]);
}

const action = (name: ProjectionName, verb: "projection" | "rebuildProjection") => `${PROJECTIONS[name].service}.${verb}`;

export const projectionCommand = commandGroup("projection", "read models (the order and DLQ lists): state, rebuild from the log", {
  show: {
    usage: `<${NAMES.join("|")}>`,
    async run({ broker, out }, args) {
      const name = projectionName("show", args);
      printReport(out, await broker.call<ProjectionReport, object>(action(name, "projection"), {}));
    },
  },

  rebuild: {
    usage: `<${NAMES.join("|")}>`,
    async run({ broker, out, operator }, args) {
      const name = projectionName("rebuild", args);
      let report = await broker.call<ProjectionReport, object>(action(name, "rebuildProjection"), {}, operator);
      out.note(`rebuilding ${name} into a new table up to position ${report.target} while the old one serves`);
      const bar = out.progress(`rebuilding ${name}`, BAR_STEPS);
      while (report.status === "rebuilding") {
        bar.update(Math.floor((report.progress ?? 0) * BAR_STEPS));
        await sleep(POLL_MS);
        report = await broker.call<ProjectionReport, object>(action(name, "projection"), {});
      }
      if (report.status === "done") bar.update(BAR_STEPS);
      bar.end();
      printReport(out, report);
      if (report.status === "done") out.success(`${name}: rebuilt and swapped in, ${report.rows} rows`);
      else out.line(`${name}: the rebuild ended ${report.status}; the old table still serves`);
    },
  },
});

import { ChaosSettings } from "../../config";
import { CHAOS_MODES, CHAOS_TARGETS, MAX_CHAOS_LATENCY_MS, configureChaos, readChaos } from "../../mixins/chaos.mixin";
import { UsageError, choiceOption, commandGroup, numberOption, parseWords } from "../command";
import { Output } from "../output";

const HEADERS = ["service", "failure rate", "latency ms", "mode"] as const;

function printSettings(out: Output, rows: readonly { service: string; settings: ChaosSettings }[]): void {
  out.table(
    HEADERS,
    rows.map(({ service, settings }) => [service, settings.failureRate, settings.latencyMs, settings.mode]),
  );
}

export const chaosCommand = commandGroup("chaos", "read and set the faults injected into antifraud and payments", {
  get: {
    usage: "",
    async run({ broker, out }, args) {
      if (parseWords(args, {}).positionals.length > 0) throw new UsageError("chaos get takes no argument");
      const readings = await readChaos(broker);
      out.table(
        [...HEADERS, "error"],
        readings.map(({ service, reading }) =>
          "error" in reading ? [service, null, null, null, reading.error] : [service, reading.failureRate, reading.latencyMs, reading.mode, null],
        ),
      );
    },
  },

  set: {
    usage: `<${CHAOS_TARGETS.join("|")}> [--failure-rate 0..1] [--latency ms] [--mode ${CHAOS_MODES.join("|")}]`,
    async run({ broker, out }, args) {
      const { values, positionals } = parseWords(args, {
        "failure-rate": { type: "string" },
        latency: { type: "string" },
        mode: { type: "string" },
      });
      const [name, ...extra] = positionals;
      const service = CHAOS_TARGETS.find((target) => target === name);
      if (service === undefined || extra.length > 0) {
        throw new UsageError(`chaos set takes one service, one of ${CHAOS_TARGETS.join(", ")}${name === undefined ? "" : `, not '${positionals.join(" ")}'`}`);
      }
      // Checked here as the gateway's validator checks PUT /api/chaos/:service.
      const changes: Partial<ChaosSettings> = {
        failureRate: numberOption("--failure-rate", values["failure-rate"], { min: 0, max: 1, integer: false }),
        latencyMs: numberOption("--latency", values.latency, { min: 0, max: MAX_CHAOS_LATENCY_MS, integer: true }),
        mode: choiceOption("--mode", values.mode, CHAOS_MODES),
      };
      if (Object.values(changes).every((value) => value === undefined)) throw new UsageError("chaos set needs --failure-rate, --latency or --mode");
      printSettings(out, [{ service, settings: await configureChaos(broker, service, changes) }]);
    },
  },
});

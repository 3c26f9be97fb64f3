import { DeadLetterEntry, DeadLetterStatus } from "../../domain/dead-letter";
import { DeadLetterSummary, DlqFilter } from "../../services/dlq.service";
import { UsageError, choiceOption, commandGroup, numberOption, parseWords } from "../command";
import { instant, shorten } from "../format";
import { Output } from "../output";

const STATUSES = ["dead", "replayed", "purged"] as const satisfies readonly DeadLetterStatus[];
/** Enough of the last error to tell entries apart; `dlq show` has all of it. */
const ERROR_WIDTH = 70;

function printSummaries(out: Output, entries: readonly DeadLetterSummary[]): void {
  out.table(
    ["id", "status", "queue", "event", "order", "attempts", "last error"],
    entries.map((entry) => [entry.id, entry.status, entry.originQueue, entry.eventType, entry.orderId, entry.attempts, shorten(entry.lastError, ERROR_WIDTH)]),
    "no dead letters",
  );
}

/** The one id a subcommand takes, and nothing else. */
function singleId(command: string, positionals: string[]): string {
  const [id, ...extra] = positionals;
  if (id === undefined || extra.length > 0) throw new UsageError(`dlq ${command} takes one dead-letter id`);
  return id;
}

export const dlqCommand = commandGroup("dlq", "list, show, replay and purge dead letters", {
  list: {
    usage: "[--queue q] [--type t] [--status dead|replayed|purged] [--limit n] [--cursor c]",
    async run({ broker, out }, args) {
      const { values, positionals } = parseWords(args, {
        queue: { type: "string" },
        type: { type: "string" },
        status: { type: "string" },
        limit: { type: "string" },
        cursor: { type: "string" },
      });
      if (positionals.length > 0) throw new UsageError(`dlq list takes no argument besides options, not '${positionals.join(" ")}'`);
      const query: DlqFilter & { limit?: number; cursor?: string } = {
        originQueue: values.queue,
        eventType: values.type,
        status: choiceOption("--status", values.status, STATUSES),
        limit: numberOption("--limit", values.limit, { min: 1, max: 100, integer: true }),
        cursor: values.cursor,
      };
      const page = await broker.call<{ items: DeadLetterSummary[]; nextCursor: string | null }, typeof query>("dlq.list", query);
      printSummaries(out, page.items);
      if (page.nextCursor) out.note(`more with --cursor ${page.nextCursor}`);
    },
  },

  show: {
    usage: "<id>",
    async run({ broker, out }, args) {
      const id = singleId("show", parseWords(args, {}).positionals);
      const entry = await broker.call<Exclude<DeadLetterEntry, { status: "none" }>, { id: string }>("dlq.show", { id });
      const { message } = entry;
      out.fields([
        ["id", entry.id],
        ["status", entry.status],
        ["queue", message.originQueue],
        ["event", message.topic],
        ["message id", message.messageId],
        ["attempts", message.attempts],
        ["deaths", entry.deaths],
        ["replays", entry.replays],
        ["first failure", instant(message.firstFailureAt)],
        ["last failure", instant(message.lastFailureAt)],
        ["dead-lettered", instant(entry.deadLetteredAt)],
        ["replayed", instant(entry.replayedAt)],
        ["purged", entry.purge ? `${instant(entry.purge.at)}: ${entry.purge.reason}` : null],
        ["error", `${message.error.name}: ${message.error.message}`],
      ]);
      out.table(
        ["header", "value"],
        Object.entries(message.headers).map(([name, value]) => [name, String(value)]),
        "no headers",
      );
      out.line("payload:");
      out.line(JSON.stringify(message.payload, null, 2));
      out.line("stack:");
      out.note(message.error.stack);
    },
  },

  replay: {
    usage: "<id> | --all [--queue q] [--type t]",
    async run({ broker, out }, args) {
      const { values, positionals } = parseWords(args, { all: { type: "boolean" }, queue: { type: "string" }, type: { type: "string" } });
      if (!values.all) {
        if (values.queue !== undefined || values.type !== undefined) throw new UsageError("--queue and --type go with --all");
        const replayed = await broker.call<DeadLetterSummary, { id: string }>("dlq.replay", { id: singleId("replay", positionals) });
        printSummaries(out, [replayed]);
        return;
      }
      if (positionals.length > 0) throw new UsageError("dlq replay takes either an id or --all, not both");
      const filter: DlqFilter = { originQueue: values.queue, eventType: values.type };
      const { replayed } = await broker.call<{ replayed: number }, DlqFilter>("dlq.replayAll", filter);
      out.success(`replayed ${replayed} dead letter${replayed === 1 ? "" : "s"}`);
    },
  },

  purge: {
    usage: "<id> <reason...>",
    async run({ broker, out }, args) {
      const [id, ...reason] = parseWords(args, {}).positionals;
      if (id === undefined || reason.length === 0) throw new UsageError("dlq purge needs an id and a reason");
      const purged = await broker.call<DeadLetterSummary, { id: string; reason: string }>("dlq.purge", { id, reason: reason.join(" ") });
      printSummaries(out, [purged]);
    },
  },
});

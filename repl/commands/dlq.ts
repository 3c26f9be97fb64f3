import { setTimeout as sleep } from "node:timers/promises";
import { DeadLetterEntry, DeadLetterStatus } from "../../domain/dead-letter";
import { DeadLetterSummary, DlqFilter } from "../../services/dlq.service";
import { DeadLetterGroup } from "../../services/dlq/groups";
import { DlqJobView } from "../../services/dlq/jobs";
import { CommandContext, UsageError, choiceOption, commandGroup, numberOption, parseWords } from "../command";
import { instant, shorten } from "../format";
import { Output } from "../output";

const STATUSES = ["dead", "replaying", "replayed", "purged"] as const satisfies readonly DeadLetterStatus[];
/** Enough of the last error to tell entries apart; `dlq show` has all of it. */
const ERROR_WIDTH = 70;
/** Pause between two looks at a job under way. */
const POLL_MS = 200;

type Entry = Exclude<DeadLetterEntry, { status: "none" }>;

function printSummaries(out: Output, entries: readonly DeadLetterSummary[]): void {
  out.table(
    ["id", "status", "queue", "event", "order", "attempts", "group", "last error"],
    entries.map((entry) => [
      entry.id,
      entry.edited ? `${entry.status} (edited)` : entry.status,
      entry.originQueue,
      entry.eventType,
      entry.orderId,
      entry.attempts,
      entry.group,
      shorten(entry.lastError, ERROR_WIDTH),
    ]),
    "no dead letters",
  );
}

function printJob(out: Output, job: DlqJobView): void {
  out.fields([
    ["job", job.id],
    ["kind", job.kind],
    ["status", job.status],
    [
      "filter",
      Object.entries(job.filter)
        .map(([name, value]) => `${name}=${value}`)
        .join(" ") || "all",
    ],
    ["total", job.total],
    [job.kind === "replay" ? "replayed" : "purged", job.kind === "replay" ? job.replayed : job.purged],
    ["skipped", job.skipped],
    ["failed", job.failed],
    ["rate", job.rate === 0 ? "no limit" : `${job.rate}/s`],
    ["by", job.by],
    ["reason", job.reason],
    ["started", instant(job.startedAt)],
    ["ended", instant(job.endedAt)],
    ["cancelled by", job.cancelledBy],
    ["error", job.error],
  ]);
}

/** The one id a subcommand takes, and nothing else. */
function singleId(command: string, positionals: string[]): string {
  const [id, ...extra] = positionals;
  if (id === undefined || extra.length > 0) throw new UsageError(`dlq ${command} takes one id`);
  return id;
}

/** Draws a job's progress until it ends, then prints it. */
async function follow({ broker, out }: CommandContext, started: DlqJobView): Promise<void> {
  out.note(`${started.kind} job ${started.id}: ${started.total} dead letters at ${started.rate === 0 ? "any rate" : `${started.rate}/s`}`);
  const bar = out.progress(`${started.kind} job`, Math.max(1, started.total));
  let job = started;
  while (job.status === "running") {
    bar.update(job.replayed + job.purged + job.skipped + job.failed);
    await sleep(POLL_MS);
    job = await broker.call<DlqJobView, { id: string }>("dlq.job", { id: job.id });
  }
  bar.update(job.replayed + job.purged + job.skipped + job.failed);
  bar.end();
  printJob(out, job);
  const done = job.kind === "replay" ? `replayed ${job.replayed}` : `purged ${job.purged}`;
  const line = `${job.kind} job ${job.status}: ${done} of ${job.total} dead letter${job.total === 1 ? "" : "s"}, ${job.skipped} skipped, ${job.failed} failed`;
  if (job.status === "done") out.success(line);
  else out.line(line);
}

/** An RFC 6902 patch typed as one word of JSON; each operation is checked by the action, as for PATCH /api/dlq/:id. */
function patchOf(text: string): unknown[] {
  let patch: unknown;
  try {
    patch = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`the patch must be JSON, one word (an array of operations): ${(error as Error).message}`);
  }
  if (!Array.isArray(patch)) throw new UsageError('the patch must be a JSON array of operations, e.g. [{"op":"replace","path":"/data/total","value":2500}]');
  return patch;
}

export const dlqCommand = commandGroup("dlq", "list, group, show, edit, replay and purge dead letters; follow DLQ jobs", {
  list: {
    usage: "[--queue q] [--type t] [--group g] [--status dead|replaying|replayed|purged] [--limit n] [--cursor c]",
    async run({ broker, out }, args) {
      const { values, positionals } = parseWords(args, {
        queue: { type: "string" },
        type: { type: "string" },
        group: { type: "string" },
        status: { type: "string" },
        limit: { type: "string" },
        cursor: { type: "string" },
      });
      if (positionals.length > 0) throw new UsageError(`dlq list takes no argument besides options, not '${positionals.join(" ")}'`);
      const query: DlqFilter & { limit?: number; cursor?: string } = {
        originQueue: values.queue,
        eventType: values.type,
        group: values.group,
        status: choiceOption("--status", values.status, STATUSES),
        limit: numberOption("--limit", values.limit, { min: 1, max: 100, integer: true }),
        cursor: values.cursor,
      };
      const page = await broker.call<{ items: DeadLetterSummary[]; nextCursor: string | null }, typeof query>("dlq.list", query);
      printSummaries(out, page.items);
      if (page.nextCursor) out.note(`more with --cursor ${page.nextCursor}`);
    },
  },

  groups: {
    usage: "",
    async run({ broker, out }, args) {
      if (parseWords(args, {}).positionals.length > 0) throw new UsageError("dlq groups takes no argument");
      const { items } = await broker.call<{ items: DeadLetterGroup[] }, object>("dlq.groups", {});
      out.table(
        ["group", "dead", "error", "queue", "event", "first seen", "last seen"],
        items.map((group) => [
          group.group,
          group.count,
          shorten(`${group.errorType}: ${group.message}`, ERROR_WIDTH),
          group.originQueue,
          group.eventType,
          instant(group.firstSeen),
          instant(group.lastSeen),
        ]),
        "no dead letters",
      );
    },
  },

  show: {
    usage: "<id>",
    async run({ broker, out }, args) {
      const id = singleId("show", parseWords(args, {}).positionals);
      const entry = await broker.call<Entry, { id: string }>("dlq.show", { id });
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
        ["edited", entry.edited ? `${instant(entry.edited.at)} by ${entry.edited.by}: ${entry.edited.reason}` : null],
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

  edit: {
    usage: "<id> <json-patch> <reason...>",
    async run({ broker, out, operator }, args) {
      const [id, patch, ...reason] = parseWords(args, {}).positionals;
      if (id === undefined || patch === undefined || reason.length === 0) throw new UsageError("dlq edit needs an id, a JSON Patch (one word) and a reason");
      const edited = await broker.call<Entry, { id: string; patch: unknown[]; reason: string }>(
        "dlq.edit",
        { id, patch: patchOf(patch), reason: reason.join(" ") },
        operator,
      );
      out.success(`dead letter ${edited.id} edited; a replay sends this payload:`);
      out.line(JSON.stringify(edited.message.payload, null, 2));
    },
  },

  replay: {
    usage: "<id> | [--all] [--queue q] [--type t] [--group g]",
    async run(context, args) {
      const { broker, out, operator } = context;
      const { values, positionals } = parseWords(args, {
        all: { type: "boolean" },
        queue: { type: "string" },
        type: { type: "string" },
        group: { type: "string" },
      });
      const filtered = values.all || values.queue !== undefined || values.type !== undefined || values.group !== undefined;
      if (positionals.length > 0) {
        if (filtered) throw new UsageError("dlq replay takes either an id or filters, not both");
        const replayed = await broker.call<DeadLetterSummary, { id: string }>("dlq.replay", { id: singleId("replay", positionals) }, operator);
        printSummaries(out, [replayed]);
        return;
      }
      if (!filtered) throw new UsageError("dlq replay takes an id, or --all and/or filters");
      const filter: DlqFilter = { originQueue: values.queue, eventType: values.type, group: values.group };
      await follow(context, await broker.call<DlqJobView, DlqFilter>("dlq.replayAll", filter, operator));
    },
  },

  purge: {
    usage: "<id> <reason...>",
    async run({ broker, out, operator }, args) {
      const [id, ...reason] = parseWords(args, {}).positionals;
      if (id === undefined || reason.length === 0) throw new UsageError("dlq purge needs an id and a reason");
      const purged = await broker.call<DeadLetterSummary, { id: string; reason: string }>("dlq.purge", { id, reason: reason.join(" ") }, operator);
      printSummaries(out, [purged]);
    },
  },

  "purge-group": {
    usage: "<group> <reason...>",
    async run(context, args) {
      const [group, ...reason] = parseWords(args, {}).positionals;
      if (group === undefined || reason.length === 0) throw new UsageError("dlq purge-group needs a group and a reason");
      const params = { group, reason: reason.join(" ") };
      await follow(context, await context.broker.call<DlqJobView, typeof params>("dlq.purgeGroup", params, context.operator));
    },
  },

  job: {
    usage: "<id>",
    async run({ broker, out }, args) {
      printJob(out, await broker.call<DlqJobView, { id: string }>("dlq.job", { id: singleId("job", parseWords(args, {}).positionals) }));
    },
  },

  "cancel-job": {
    usage: "<id>",
    async run({ broker, out, operator }, args) {
      const job = await broker.call<DlqJobView, { id: string }>("dlq.cancelJob", { id: singleId("cancel-job", parseWords(args, {}).positionals) }, operator);
      printJob(out, job);
    },
  },
});

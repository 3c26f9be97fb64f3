import { ListSagasParams, OperatorActionParams, SagaView } from "../../services/orchestrator.service";
import { SAGA_STATUSES, SagaSummary } from "../../services/orchestrator/saga-summary";
import { SAGA_OUTCOMES } from "../../domain/order-saga";
import { CommandContext, UsageError, choiceOption, commandGroup, numberOption, parseWords } from "../command";
import { details, instant } from "../format";
import type { RecordedSpan } from "../../tracing/recorded-span";
import type { StoredTrace } from "../../tracing/trace-store";

/** Each span under its parent, depth first, children by start (the store answers them sorted): the waterfall's rows. */
function spanTree(spans: readonly RecordedSpan[]): { span: RecordedSpan; depth: number }[] {
  const ids = new Set(spans.map((span) => span.id));
  const children = new Map<string | null, RecordedSpan[]>();
  for (const span of spans) {
    const parent = span.parentId !== null && ids.has(span.parentId) ? span.parentId : null;
    children.set(parent, [...(children.get(parent) ?? []), span]);
  }
  const rows: { span: RecordedSpan; depth: number }[] = [];
  const visit = (parent: string | null, depth: number) => {
    for (const span of children.get(parent) ?? []) {
      rows.push({ span, depth });
      visit(span.id, depth + 1);
    }
  };
  visit(null, 0);
  return rows;
}

/** What a row says besides its name: its failure, its events, the attempt it retries. */
function spanNotes(span: RecordedSpan, labels: ReadonlyMap<string, string>): string {
  return [
    ...(span.error ? [`✗ ${span.error.type ?? span.error.name}`] : []),
    ...span.events.map((event) => `◆ ${event.name} ${details(event.attributes)}`.trim()),
    ...span.links.map((link) => `↻ retry of ${labels.get(link.spanId) ?? link.spanId}`),
  ].join("; ");
}

function printSummary({ out }: CommandContext, saga: SagaSummary): void {
  out.fields([
    ["order", saga.orderId],
    ["status", saga.status],
    ["outcome", saga.outcome],
    ["reason", saga.reason],
    ["step", saga.step],
    ["why", saga.why],
    ["started", instant(saga.startedAt)],
    ["deadline", instant(saga.deadline)],
    ["ended", instant(saga.endedAt)],
  ]);
}

/** `saga retry|cancel <orderId> <reason...>`: an operator action, recorded with who typed it and why. */
function operatorAction(name: "retry" | "cancel", note: string) {
  return {
    usage: "<orderId> <reason...>",
    async run(context: CommandContext, args: string[]) {
      const [orderId, ...reason] = parseWords(args, {}).positionals;
      if (orderId === undefined || reason.length === 0) throw new UsageError(`saga ${name} takes an order id and a reason`);
      const saga = await context.broker.call<SagaView, OperatorActionParams>(`orchestrator.${name}`, { orderId, reason: reason.join(" ") }, context.operator);
      printSummary(context, saga);
      context.out.note(note);
    },
  };
}

export const sagaCommand = commandGroup("saga", "an order's saga: its timeline, the ones still running, an operator's retry or cancel", {
  show: {
    usage: "<orderId>",
    async run(context, args) {
      const [orderId, ...extra] = parseWords(args, {}).positionals;
      if (orderId === undefined || extra.length > 0) throw new UsageError("saga show takes one order id");
      const saga = await context.broker.call<SagaView, { orderId: string }>("orchestrator.get", { orderId });
      printSummary(context, saga);
      context.out.table(
        ["at", "event", "step", "details"],
        saga.timeline.map(({ at, event, step, ...rest }) => [instant(at), event, typeof step === "string" ? step : "", details(rest)]),
      );
    },
  },

  trace: {
    usage: "<orderId>",
    async run({ broker, out }, args) {
      const [orderId, ...extra] = parseWords(args, {}).positionals;
      if (orderId === undefined || extra.length > 0) throw new UsageError("saga trace takes one order id");
      const saga = await broker.call<SagaView, { orderId: string }>("orchestrator.get", { orderId });
      if (saga.traceId === null) {
        out.note("this saga's start was not traced (TRACING=off, or it started before tracing)");
        return;
      }
      const trace = await broker.call<StoredTrace, { traceId: string }>("traces.get", { traceId: saga.traceId });
      const start = Math.min(...trace.spans.map((span) => span.startTime));
      const labels = new Map(trace.spans.map((span) => [span.id, `${span.service ?? "?"} · ${span.name}`]));
      out.table(
        ["start ms", "ms", "span", "node", "notes"],
        spanTree(trace.spans).map(({ span, depth }) => [
          (span.startTime - start).toFixed(1),
          span.durationMs.toFixed(1),
          // A mark per level: a cell's runs of white space become one.
          `${"› ".repeat(depth)}${labels.get(span.id)}`,
          span.nodeId,
          spanNotes(span, labels),
        ]),
      );
      out.note(`trace ${trace.traceId}: GET /api/traces/${trace.traceId}${trace.droppedSpans > 0 ? `; ${trace.droppedSpans} spans dropped` : ""}`);
    },
  },

  list: {
    usage: `[--status ${SAGA_STATUSES.join("|")}] [--outcome ${SAGA_OUTCOMES.join("|")}] [--older-than 30s|5m|2h] [--limit n] [--cursor c]`,
    async run({ broker, out }, args) {
      const { values, positionals } = parseWords(args, {
        status: { type: "string" },
        outcome: { type: "string" },
        "older-than": { type: "string" },
        limit: { type: "string" },
        cursor: { type: "string" },
      });
      if (positionals.length > 0) throw new UsageError(`saga list takes no argument besides options, not '${positionals.join(" ")}'`);
      const query: ListSagasParams = {
        status: choiceOption("--status", values.status, SAGA_STATUSES),
        outcome: choiceOption("--outcome", values.outcome, SAGA_OUTCOMES),
        olderThan: values["older-than"],
        limit: numberOption("--limit", values.limit, { min: 1, max: 100, integer: true }),
        cursor: values.cursor,
      };
      const page = await broker.call<{ items: SagaSummary[]; nextCursor: string | null }, ListSagasParams>("orchestrator.list", query);
      out.table(
        ["order", "status", "step", "why", "started", "deadline"],
        page.items.map((saga) => [saga.orderId, saga.outcome ?? saga.status, saga.step, saga.why, instant(saga.startedAt), instant(saga.deadline)]),
        "no sagas",
      );
      if (page.nextCursor) out.note(`more with --cursor ${page.nextCursor}`);
    },
  },

  retry: operatorAction("retry", "its current step runs again now: `saga show` follows it"),
  cancel: operatorAction("cancel", "its order is rejected and what may have happened undone: `saga show` follows it"),
});

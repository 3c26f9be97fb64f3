import { ListSagasParams, OperatorActionParams, SagaView } from "../../services/orchestrator.service";
import { SAGA_STATUSES, SagaSummary } from "../../services/orchestrator/saga-summary";
import { SAGA_OUTCOMES } from "../../domain/order-saga";
import { CommandContext, UsageError, choiceOption, commandGroup, numberOption, parseWords } from "../command";
import { details, instant } from "../format";

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

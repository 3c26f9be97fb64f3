import { SagaView } from "../../services/orchestrator.service";
import { UsageError, commandGroup, parseWords } from "../command";
import { details, instant } from "../format";

export const sagaCommand = commandGroup("saga", "an order's saga and its timeline", {
  show: {
    usage: "<orderId>",
    async run({ broker, out }, args) {
      const [orderId, ...extra] = parseWords(args, {}).positionals;
      if (orderId === undefined || extra.length > 0) throw new UsageError("saga show takes one order id");
      const saga = await broker.call<SagaView, { orderId: string }>("orchestrator.get", { orderId });
      out.fields([
        ["order", saga.orderId],
        ["status", saga.status],
        ["outcome", saga.outcome],
        ["reason", saga.reason],
        ["started", instant(saga.startedAt)],
        ["ended", instant(saga.endedAt)],
      ]);
      out.table(
        ["at", "event", "step", "details"],
        saga.timeline.map(({ at, event, step, ...rest }) => [instant(at), event, typeof step === "string" ? step : "", details(rest)]),
      );
    },
  },
});

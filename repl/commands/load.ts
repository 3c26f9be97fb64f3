import { setTimeout as sleep } from "node:timers/promises";
import { ServiceBroker } from "moleculer";
import { DeadLetterSummary, DlqFilter } from "../../services/dlq.service";
import { CreateOrderParams, OrderIdParams, PlacedOrder } from "../../services/orders.service";
import { ReplCommand, UsageError, numberOption, parseWords } from "../command";
import { Outcome, settledOutcome, tally } from "../load/outcome";
import { randomOrder } from "../load/random-order";
import { inPool } from "../load/worker-pool";
import { describeError } from "../output";

const DEFAULT_CONCURRENCY = 10;
const DEFAULT_WAIT_S = 60;
/** Pause between two looks at the orders still pending. */
const POLL_MS = 100;
const DLQ_PAGE = 100;

/** Orders whose OrderCreated lies dead in the DLQ: they will not settle before a replay. */
async function deadLetteredOrders(broker: ServiceBroker): Promise<Set<string>> {
  const ids = new Set<string>();
  let cursor: string | undefined;
  do {
    const page = await broker.call<{ items: DeadLetterSummary[]; nextCursor: string | null }, DlqFilter & { limit: number; cursor?: string }>("dlq.list", {
      status: "dead",
      eventType: "OrderCreated",
      limit: DLQ_PAGE,
      cursor,
    });
    for (const entry of page.items) if (entry.orderId) ids.add(entry.orderId);
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return ids;
}

const seconds = (ms: number) => (ms / 1000).toFixed(2);
const perSecond = (count: number, ms: number) => (ms > 0 ? ((count * 1000) / ms).toFixed(1) : "∞");

/**
 * `load <n>`: places n random orders (a few of them above the payments limit), waits until
 * each has settled or dead-lettered, at most --wait seconds, and tallies the outcomes.
 */
export function loadCommand(paymentsLimit: number): ReplCommand {
  return {
    name: "load",
    summary: "place n random orders and tally how they end (replaces the built-in load of a service file)",
    usage: [`load <n> [--concurrency c (${DEFAULT_CONCURRENCY})] [--wait seconds (${DEFAULT_WAIT_S})]`],
    async run({ broker, out }, args) {
      const { values, positionals } = parseWords(args, { concurrency: { type: "string" }, wait: { type: "string" } });
      const [count, ...extra] = positionals;
      if (count === undefined || extra.length > 0) throw new UsageError("load takes one number of orders");
      const total = numberOption("<n>", count, { min: 1, max: 100_000, integer: true })!;
      const concurrency = numberOption("--concurrency", values.concurrency, { min: 1, max: 1000, integer: true }) ?? DEFAULT_CONCURRENCY;
      const waitMs = (numberOption("--wait", values.wait, { min: 0, max: 3600, integer: false }) ?? DEFAULT_WAIT_S) * 1000;

      const started = performance.now();
      const outcomes = new Map<string, Outcome>();
      const notPlaced: Outcome[] = [];
      const pending = new Set<string>();
      const placing = out.progress("placing", total);
      let attempted = 0;
      await inPool(
        Array.from({ length: total }, () => randomOrder(paymentsLimit)),
        concurrency,
        async (order) => {
          try {
            pending.add((await broker.call<PlacedOrder, CreateOrderParams>("orders.create", order)).id);
          } catch (error) {
            notPlaced.push({ kind: "not placed", reason: describeError(error) });
          }
          placing.update(++attempted);
        },
      );
      placing.end();
      const placedMs = performance.now() - started;
      const placed = pending.size;

      const settling = out.progress("settling", placed);
      const deadline = performance.now() + waitMs;
      for (;;) {
        // Without an answering dlq service, an order settles by its status alone.
        const deadLettered = await deadLetteredOrders(broker).catch(() => new Set<string>());
        await inPool([...pending], concurrency, async (id) => {
          // An order that cannot be read now is looked at again in the next round.
          const order = await broker.call<PlacedOrder, OrderIdParams>("orders.get", { id }).catch(() => undefined);
          if (!order) return;
          const outcome: Outcome | undefined = settledOutcome(order) ?? (deadLettered.has(id) ? { kind: "dead-lettered" } : undefined);
          if (!outcome) return;
          outcomes.set(id, outcome);
          pending.delete(id);
        });
        settling.update(placed - pending.size);
        if (pending.size === 0 || performance.now() >= deadline) break;
        await sleep(POLL_MS);
      }
      settling.end();
      for (const id of pending) outcomes.set(id, { kind: "pending" });
      const elapsedMs = performance.now() - started;

      out.table(["outcome", "reason", "orders"], tally([...outcomes.values(), ...notPlaced]));
      out.line(
        `placed ${placed} of ${total} orders in ${seconds(placedMs)} s (${perSecond(placed, placedMs)} orders/s); ` +
          (pending.size === 0
            ? `all settled or dead-lettered after ${seconds(elapsedMs)} s (${perSecond(placed, elapsedMs)} orders/s end to end)`
            : `${pending.size} still pending after ${seconds(elapsedMs)} s`),
      );
    },
  };
}

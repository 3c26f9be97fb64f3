import { Context, ServiceSchema } from "moleculer";
import { FraudCheckRequest, FraudDecision, FraudPolicy, assess } from "../domain/antifraud";
import { ChaosSettings } from "../config";
import { ORDER_LIMITS } from "../domain/order";
import { ChaosMixin } from "../mixins/chaos.mixin";
import { typedText } from "./shared/typed-text";

export interface AntifraudServiceOptions {
  maxTotal: number;
  blocklist: readonly string[];
  chaos: ChaosSettings;
}

/** A saga participant: answers whether an order looks fraudulent. Stateless. */
export function antifraudService({ maxTotal, blocklist, chaos }: AntifraudServiceOptions): ServiceSchema {
  const policy: FraudPolicy = { maxTotal, blockedCustomers: new Set(blocklist) };
  return {
    name: "antifraud",
    mixins: [ChaosMixin(chaos, ["check"])],
    actions: {
      check: {
        visibility: "public",
        params: {
          $$strict: true,
          orderId: typedText(ORDER_LIMITS.maxIdLength),
          customerId: typedText(ORDER_LIMITS.maxIdLength),
          total: { type: "number", integer: true, min: 0 },
          currency: { type: "string", pattern: /^[A-Z]{3}$/ },
        },
        handler(ctx: Context<FraudCheckRequest>): FraudDecision {
          return assess(ctx.params, policy);
        },
      },
    },
  };
}

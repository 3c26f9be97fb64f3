import Validator, { ValidationError, ValidationSchema } from "fastest-validator";
import { ORDER_LIMITS } from "../../domain/order";
import { CURRENCY_RULE, ORDER_ITEMS_RULE } from "../shared/order-rules";
import { typedText } from "../shared/typed-text";

/** One reason why an edited payload was refused: where, and what is wrong there. */
export interface PayloadProblem {
  field: string;
  message: string;
}

const id = typedText(ORDER_LIMITS.maxIdLength);
const instant = {
  type: "string",
  pattern: /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/,
  messages: { stringPattern: "The '{field}' field must be an ISO 8601 UTC instant." },
};

/** The data of each event the bus carries to a queue that can dead-letter it, as domain/order.ts writes it. */
const EVENT_DATA: Record<string, ValidationSchema> = {
  OrderCreated: {
    orderId: id,
    customerId: id,
    currency: CURRENCY_RULE,
    items: ORDER_ITEMS_RULE,
    total: { type: "number", integer: true, min: 0, max: Number.MAX_SAFE_INTEGER },
    createdAt: instant,
  },
  OrderCancelled: {
    orderId: id,
    reason: { ...typedText(ORDER_LIMITS.maxReasonLength), nullable: true },
    cancelledAt: instant,
  },
};

/**
 * The message as the relay publishes a stored event (services/relay/outbox-relay.ts toMessage):
 * consumers read `data` and `metadata.correlationId`. Metadata may carry more than these keys.
 */
function envelope(topic: string, data: ValidationSchema): ValidationSchema {
  return {
    $$strict: true,
    id: { type: "string", min: 1, max: 64 },
    type: { type: "equal", value: topic, strict: true },
    stream: { type: "string", min: 1, max: 200 },
    revision: { type: "number", integer: true, min: 0 },
    position: { type: "string", numeric: true },
    data: { type: "object", strict: true, props: data },
    metadata: {
      type: "object",
      props: { correlationId: { type: "string", min: 1 }, causationId: { type: "string", min: 1 }, occurredAt: instant },
    },
  };
}

type Check = (payload: Record<string, unknown>) => PayloadProblem[];

const validator = new Validator();

function compiled(topic: string, data: ValidationSchema): Check {
  const check = validator.compile(envelope(topic, data));
  return (payload) => {
    const result = check(payload);
    if (result === true) return [];
    if (!Array.isArray(result)) throw new Error(`the schema of ${topic} must check synchronously`);
    return result.map((error: ValidationError) => ({ field: error.field ?? "", message: error.message ?? error.type }));
  };
}

const CHECKS: ReadonlyMap<string, Check> = new Map(Object.entries(EVENT_DATA).map(([topic, data]) => [topic, compiled(topic, data)]));

/** The event types whose dead letters can be edited: those with a schema. */
export const EDITABLE_EVENT_TYPES: readonly string[] = [...CHECKS.keys()];

/**
 * What is wrong with a payload for its event type; undefined when no schema is known for that
 * type (it cannot be checked, so it must not be edited).
 */
export function payloadProblems(topic: string, payload: Record<string, unknown>): PayloadProblem[] | undefined {
  const check = CHECKS.get(topic);
  if (!check) return undefined;
  const problems = check(payload);
  if (problems.length === 0 && topic === "OrderCreated") return totalProblems(payload);
  return problems;
}

/** An order's total is what its lines add up to: the saga charges the total. */
function totalProblems(payload: Record<string, unknown>): PayloadProblem[] {
  // Checked against the schema just before.
  const data = payload.data as { items: { quantity: number; unitPrice: number }[]; total: number };
  const sum = data.items.reduce((total, line) => total + line.quantity * line.unitPrice, 0);
  return sum === data.total ? [] : [{ field: "data.total", message: `The 'data.total' field must be the sum of the lines, ${sum}.` }];
}

import { RecordedSpan } from "../../tracing/recorded-span";
import { waitFor } from "../../tools/wait-for";

/**
 * The spans of one order's trace, each as "name <- parent's name" (the caller's span, outside
 * the system, is "(caller)"): orders.create recorded the order, the relay published each
 * event, the orchestrator took OrderCreated and called each participant, the saga's own
 * events published from the delivery that recorded them.
 */
export const ORDER_TRACE = [
  "POST /api/orders <- (caller)",
  "action 'antifraud.check' <- consume OrderCreated",
  "action 'orders.confirm' <- consume OrderCreated",
  "action 'orders.create' <- POST /api/orders",
  "action 'payments.authorize' <- consume OrderCreated",
  "action 'payments.capture' <- consume OrderCreated",
  "consume OrderCreated <- publish OrderCreated",
  "publish OrderConfirmed <- action 'orders.confirm'",
  "publish OrderCreated <- action 'orders.create'",
  "publish PaymentAuthorized <- action 'payments.authorize'",
  "publish PaymentCaptured <- action 'payments.capture'",
  "publish SagaEnded <- consume OrderCreated",
  "publish SagaStarted <- consume OrderCreated",
  "publish SagaStepSucceeded <- consume OrderCreated",
  "publish SagaStepSucceeded <- consume OrderCreated",
  "publish SagaStepSucceeded <- consume OrderCreated",
  "publish SagaStepSucceeded <- consume OrderCreated",
];

export function parentLines(spans: RecordedSpan[]): string[] {
  const byId = new Map(spans.map((span) => [span.id, span]));
  return spans.map((span) => `${span.name} <- ${span.parentId === null ? "(none)" : (byId.get(span.parentId)?.name ?? "(caller)")}`).sort();
}

export function traceOf(baseUrl: string, traceId: string): Promise<Response> {
  return fetch(`${baseUrl}/traces/${traceId}`);
}

/** Whether every span of ORDER_TRACE is in: each node sends its spans on its own, about a second after they finish. */
function whole(spans: RecordedSpan[]): boolean {
  const names = spans.map((span) => span.name);
  const wanted = ORDER_TRACE.map((line) => line.slice(0, line.indexOf(" <- ")));
  return wanted.every((name) => names.filter((other) => other === name).length >= wanted.filter((other) => other === name).length);
}

/** The spans of a trace the collector holds so far: none before the first arrives. */
export async function spansSoFar(baseUrl: string, traceId: string): Promise<RecordedSpan[]> {
  const response = await traceOf(baseUrl, traceId);
  return response.status === 200 ? ((await response.json()) as { spans: RecordedSpan[] }).spans : [];
}

/** The trace once every span of a settled order is in. */
export function orderTrace(baseUrl: string, traceId: string, timeoutMs = 15_000): Promise<RecordedSpan[]> {
  return waitFor(
    async () => {
      const spans = await spansSoFar(baseUrl, traceId);
      return whole(spans) && spans;
    },
    { timeoutMs, intervalMs: 50, what: `the whole trace ${traceId}` },
  );
}

export interface PlacedOrder {
  status: number;
  orderId: string;
  /** The X-Request-ID answered: the request's trace id. */
  requestId: string;
}

export async function placeOrder(baseUrl: string, headers: Record<string, string>): Promise<PlacedOrder> {
  const response = await fetch(`${baseUrl}/orders`, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...headers },
    body: JSON.stringify({ customerId: "c-trace", items: [{ productId: "p-1", quantity: 1, unitPrice: 100 }], currency: "EUR" }),
  });
  const body = (await response.json()) as { id: string };
  return { status: response.status, orderId: body.id, requestId: response.headers.get("x-request-id") ?? "" };
}

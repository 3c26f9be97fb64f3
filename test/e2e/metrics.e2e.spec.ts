import { randomUUID } from "node:crypto";
import { ServiceBroker } from "moleculer";
import { waitFor } from "../../tools/wait-for";
import { EmbeddedApp, startEmbeddedApp } from "../support/embedded-app";

/** The Prometheus reporter's own HTTP server, on the port it was given (0: one it chose). */
function metricsUrl(broker: ServiceBroker): string {
  // The reporter keeps its server outside Moleculer's typings.
  const reporter = broker.metrics.reporter.find((candidate) => Reflect.has(candidate, "server"));
  const server = Reflect.get(reporter!, "server") as { address(): { port: number } };
  const { port } = server.address();
  return `http://127.0.0.1:${port}/metrics`;
}

describe("Prometheus metrics (embedded app)", () => {
  let app: EmbeddedApp;

  beforeAll(async () => {
    app = await startEmbeddedApp({ env: { ANTIFRAUD_BLOCKLIST: "mallory", BUS_NAMESPACE: `test-${randomUUID()}` } });
  });
  afterAll(() => app.stop());

  it("shows the orders counter at 0 before the first order, so that rate() sees the series from the start", async () => {
    const body = await (await fetch(metricsUrl(app.broker))).text();
    expect(body).toMatch(/^glitchbuster_orders_created_total\{[^}]*\} 0$/m);
  });

  it("counts orders created and sagas finished by outcome, with their duration, beside Moleculer's own", async () => {
    const confirmed = await app.broker.call<{ id: string }, object>("orders.create", {
      customerId: "alice",
      currency: "EUR",
      items: [{ productId: "p", quantity: 1, unitPrice: 5 }],
    });
    await app.broker.call("orders.create", { customerId: "mallory", currency: "EUR", items: [{ productId: "p", quantity: 1, unitPrice: 5 }] });
    await waitFor(async () => (await app.broker.call<{ status: string }, object>("orders.get", { id: confirmed.id })).status === "confirmed");

    const text = await waitFor(async () => {
      const body = await (await fetch(metricsUrl(app.broker))).text();
      return /^glitchbuster_sagas_finished_total\{[^}]*outcome="rejected"[^}]*\} 1$/m.test(body) ? body : undefined;
    });

    expect(text).toMatch(/^glitchbuster_orders_created_total\{[^}]*\} 2$/m);
    expect(text).toMatch(/^glitchbuster_sagas_finished_total\{[^}]*outcome="confirmed"[^}]*\} 1$/m);
    expect(text).toMatch(/^glitchbuster_sagas_finished_total\{[^}]*outcome="rejected"[^}]*\} 1$/m);
    expect(text).toMatch(/^glitchbuster_saga_duration_seconds_bucket\{[^}]*outcome="confirmed",le="\+Inf"\} 1$/m);
    expect(text).toMatch(/^glitchbuster_dlq_depth\{[^}]*\} 0$/m);
    expect(text).toContain("moleculer_request_total");
    // Every node's event-loop delay over the last window, in ms (0 until the first window ends).
    expect(text).toMatch(/^glitchbuster_eventloop_delay_p99_ms\{[^}]*\} \d+(\.\d+)?$/m);
    expect(text).toMatch(/^glitchbuster_eventloop_delay_max_ms\{[^}]*\} \d+(\.\d+)?$/m);
  });
});

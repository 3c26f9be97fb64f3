import { Errors, ServiceBroker } from "moleculer";
import type { RecordedSpan } from "../../tracing/recorded-span";
import { tracesService } from "../../services/traces.service";
import { SPANS_EVENT } from "../../tracing/broker-tracing";

const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";

function span(id: string, startTime: number, overrides: Partial<RecordedSpan> = {}): RecordedSpan {
  return {
    traceId: TRACE,
    id,
    parentId: null,
    name: "orders.create",
    kind: "server",
    service: "orders",
    nodeId: "gateway",
    startTime,
    durationMs: 2.5,
    error: null,
    attributes: { "action.name": "orders.create" },
    events: [{ name: "chaos.injected", time: startTime + 1, attributes: { mode: "error" } }],
    links: [{ traceId: TRACE, spanId: "00f067aa0ba902b7", attributes: { attempt: 2 } }],
    ...overrides,
  };
}

describe("the traces service: spans in by event, one trace out by traceId", () => {
  const broker = new ServiceBroker({ logger: false });

  beforeAll(async () => {
    broker.createService(tracesService({ maxSpansPerTrace: 2 }));
    await broker.start();
  });
  afterAll(() => broker.stop());

  it("keeps the well-formed spans of each event, leaves out every malformed entry, and answers the trace", async () => {
    const kept = [span("b7ad6b7169203331", 1000), span("00f067aa0ba902b7", 999.5, { parentId: "b7ad6b7169203331" })];
    await broker.emit(SPANS_EVENT, [
      null,
      "span",
      [kept[0]],
      { ...kept[0], traceId: 7 },
      { ...kept[0], id: undefined },
      { ...kept[0], startTime: "yesterday" },
      { ...kept[0], events: [{ name: "chaos.injected" }] },
      { ...kept[0], links: [null] },
      kept[0],
    ]);
    await broker.emit(SPANS_EVENT, { not: "an array" });
    await broker.emit(SPANS_EVENT, [kept[1], span("ffffffffffffffff", 1001)]);

    expect(await broker.call("traces.get", { traceId: TRACE })).toEqual({ traceId: TRACE, spans: [kept[1], kept[0]], droppedSpans: 1 });
  });

  it("answers 404 TRACE_NOT_FOUND for a trace none of whose spans arrived", async () => {
    const missing = "0af7651916cd43dd8448eb211c80319c";
    await expect(broker.call("traces.get", { traceId: missing })).rejects.toMatchObject({
      constructor: Errors.MoleculerClientError,
      code: 404,
      type: "TRACE_NOT_FOUND",
      message: `trace ${missing} not found: none of its spans was received, or it was evicted`,
    });
  });

  it("refuses a trace id that is not 32 lower-case hex digits, and any other param", async () => {
    for (const params of [{ traceId: TRACE.toUpperCase() }, { traceId: TRACE.slice(1) }, { traceId: `${TRACE}0` }, {}, { traceId: TRACE, extra: 1 }]) {
      await expect(broker.call("traces.get", params)).rejects.toBeInstanceOf(Errors.ValidationError);
    }
  });
});

import { formatTraceparent, newSpanId, newTraceId, parseTraceparent, w3cTraceId } from "../../tracing/trace-context";
import { rootCallOptions } from "../../services/api/trace-headers";
import { loadConfig } from "../../config";
import { flatAttributes } from "../../tracing/recorded-span";

const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const SPAN = "00f067aa0ba902b7";

describe("W3C traceparent", () => {
  it("reads the example of the standard, sampled or not, and writes it back as read", () => {
    expect(parseTraceparent(`00-${TRACE}-${SPAN}-01`)).toEqual({ traceId: TRACE, spanId: SPAN, sampled: true });
    expect(parseTraceparent(`00-${TRACE}-${SPAN}-00`)).toEqual({ traceId: TRACE, spanId: SPAN, sampled: false });
    expect(formatTraceparent({ traceId: TRACE, spanId: SPAN, sampled: true })).toBe(`00-${TRACE}-${SPAN}-01`);
    expect(formatTraceparent({ traceId: TRACE, spanId: SPAN, sampled: false })).toBe(`00-${TRACE}-${SPAN}-00`);
  });

  it("reads the sampled bit alone among the flags, and a later version by its first four fields", () => {
    expect(parseTraceparent(`00-${TRACE}-${SPAN}-03`)?.sampled).toBe(true);
    expect(parseTraceparent(`00-${TRACE}-${SPAN}-02`)?.sampled).toBe(false);
    expect(parseTraceparent(`01-${TRACE}-${SPAN}-01-what-comes-later`)).toEqual({ traceId: TRACE, spanId: SPAN, sampled: true });
  });

  it.each([
    ["version ff", `ff-${TRACE}-${SPAN}-01`],
    ["an all-zero trace id", `00-${"0".repeat(32)}-${SPAN}-01`],
    ["an all-zero span id", `00-${TRACE}-${"0".repeat(16)}-01`],
    ["upper-case hex", `00-${TRACE.toUpperCase()}-${SPAN}-01`],
    ["a short trace id", `00-${TRACE.slice(1)}-${SPAN}-01`],
    ["a version 00 with more fields", `00-${TRACE}-${SPAN}-01-extra`],
    ["no flags", `00-${TRACE}-${SPAN}`],
    ["a number", 42],
    ["a header of 1 KB", `00-${TRACE}-${SPAN}-01-${"x".repeat(1000)}`],
  ])("ignores %s (the receiver starts a trace of its own)", (_what, header) => {
    expect(parseTraceparent(header)).toBeUndefined();
  });

  it("makes ids of W3C's shape, and pads a 64-bit trace id to 128 bits", () => {
    expect(newTraceId()).toMatch(/^[0-9a-f]{32}$/);
    expect(newSpanId()).toMatch(/^[0-9a-f]{16}$/);
    expect(new Set(Array.from({ length: 1000 }, newSpanId)).size).toBe(1000);
    expect(w3cTraceId(SPAN)).toBe(`0000000000000000${SPAN}`);
    expect(w3cTraceId(TRACE)).toBe(TRACE);
  });
});

describe("the gateway's root call", () => {
  it("continues the caller's trace under its span", () => {
    expect(rootCallOptions({ traceparent: `00-${TRACE}-${SPAN}-01` })).toEqual({ requestID: TRACE, parentSpan: { id: SPAN, traceID: TRACE, sampled: true } });
  });

  it("starts a trace when there is none or the one sent is malformed", () => {
    for (const headers of [{}, { traceparent: "garbage" }]) {
      const options = rootCallOptions(headers);
      expect(options.requestID).toMatch(/^[0-9a-f]{32}$/);
      expect(options.parentSpan).toBeUndefined();
    }
  });

  it("keeps a client's X-Request-ID as the correlation id, and ignores one too long or unprintable", () => {
    expect(rootCallOptions({ "x-request-id": "req-42" }).meta).toEqual({ correlationId: "req-42" });
    expect(rootCallOptions({ "x-request-id": "x".repeat(129) }).meta).toBeUndefined();
    expect(rootCallOptions({ "x-request-id": "two words" }).meta).toBeUndefined();
    expect(rootCallOptions({ "x-request-id": "" }).meta).toBeUndefined();
  });
});

describe("tracing configuration", () => {
  it("is on, exporting to the dashboard's collector only, by default", () => {
    expect(loadConfig({}).tracing).toEqual({ enabled: true, exporters: [], sampleRate: 1, zipkinUrl: "http://localhost:9411" });
  });

  it("takes exporters by name, each once", () => {
    expect(loadConfig({ TRACING_EXPORTERS: "otlp,console,otlp" }).tracing.exporters).toEqual(["otlp", "console"]);
  });

  it.each([
    [{ TRACING: "yes" }, "TRACING=yes: expected on or off"],
    [{ TRACING_EXPORTERS: "jaeger" }, "TRACING_EXPORTERS: jaeger is none of console, zipkin, otlp"],
    [{ TRACING_SAMPLE_RATE: "2" }, "TRACING_SAMPLE_RATE=2: expected a number from 0 to 1"],
  ])("refuses %j at start", (env, message) => {
    expect(() => loadConfig(env)).toThrow(message);
  });
});

describe("span attributes", () => {
  it("flattens Moleculer's nested tags, keeps arrays as JSON, and stops at a depth (a cycle included)", () => {
    const cyclic: Record<string, unknown> = { name: "loop" };
    cyclic.self = cyclic;
    expect(flatAttributes({ action: { name: "orders.create" }, params: { items: [{ quantity: 1 }] }, missing: null, cyclic })).toEqual({
      "action.name": "orders.create",
      "params.items": '[{"quantity":1}]',
      "cyclic.name": "loop",
      "cyclic.self.name": "loop",
      "cyclic.self.self.name": "loop",
      "cyclic.self.self.self.name": "loop",
    });
  });
});

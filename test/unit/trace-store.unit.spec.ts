import type { RecordedSpan } from "../../tracing/recorded-span";
import { TraceStore } from "../../tracing/trace-store";

const TRACE_A = "a".repeat(32);
const TRACE_B = "b".repeat(32);
const TRACE_C = "c".repeat(32);

function span(traceId: string, id: string, startTime: number, overrides: Partial<RecordedSpan> = {}): RecordedSpan {
  return {
    traceId,
    id,
    parentId: null,
    name: `span ${id}`,
    kind: "internal",
    service: "orders",
    nodeId: "node-1",
    startTime,
    durationMs: 1,
    error: null,
    attributes: {},
    events: [],
    links: [],
    ...overrides,
  };
}

const idsOf = (store: TraceStore, traceId: string) => store.get(traceId)?.spans.map((kept) => kept.id);

describe("TraceStore: the in-process collector's spans, by trace, bounded", () => {
  it("answers a trace's spans sorted by start time, then by id, whatever order they arrived in", () => {
    const store = new TraceStore();
    store.add([span(TRACE_A, "03", 20), span(TRACE_B, "01", 5), span(TRACE_A, "02", 10.5)]);
    store.add([span(TRACE_A, "01", 20), span(TRACE_A, "00", 10.25)]);

    expect(idsOf(store, TRACE_A)).toEqual(["00", "02", "01", "03"]);
    expect(store.get(TRACE_B)).toEqual({ traceId: TRACE_B, spans: [span(TRACE_B, "01", 5)], droppedSpans: 0 });
    expect(store.size).toBe(2);
  });

  it("answers undefined for a trace it never received", () => {
    expect(new TraceStore().get(TRACE_A)).toBeUndefined();
  });

  it("keeps a span received twice once: the first copy", () => {
    const store = new TraceStore();
    store.add([span(TRACE_A, "01", 1, { name: "first" })]);
    store.add([span(TRACE_A, "01", 1, { name: "again" }), span(TRACE_A, "01", 1, { name: "and again" })]);

    expect(store.get(TRACE_A)).toEqual({ traceId: TRACE_A, spans: [span(TRACE_A, "01", 1, { name: "first" })], droppedSpans: 0 });
  });

  it("keeps maxSpansPerTrace spans of a trace and counts the later ones as dropped; a copy of a kept span is not counted", () => {
    const store = new TraceStore({ maxSpansPerTrace: 2 });
    store.add([span(TRACE_A, "01", 3), span(TRACE_A, "02", 2), span(TRACE_A, "03", 1)]);
    store.add([span(TRACE_A, "04", 0), span(TRACE_A, "01", 3), span(TRACE_B, "01", 0)]);

    expect(store.get(TRACE_A)).toEqual({ traceId: TRACE_A, spans: [span(TRACE_A, "02", 2), span(TRACE_A, "01", 3)], droppedSpans: 2 });
    expect(store.get(TRACE_B)?.droppedSpans).toBe(0);
  });

  it("keeps the maxTraces traces that received spans last, evicting the oldest whole", () => {
    const store = new TraceStore({ maxTraces: 2 });
    store.add([span(TRACE_A, "01", 1), span(TRACE_A, "02", 2), span(TRACE_B, "01", 1)]);
    // A receives a span again: B is now the trace that received one least recently.
    store.add([span(TRACE_A, "03", 3)]);
    store.add([span(TRACE_C, "01", 1)]);

    expect(idsOf(store, TRACE_A)).toEqual(["01", "02", "03"]);
    expect(store.get(TRACE_B)).toBeUndefined();
    expect(idsOf(store, TRACE_C)).toEqual(["01"]);
    expect(store.size).toBe(2);
  });

  it("keeps at most maxSpans spans in all, evicting the traces that received a span least recently, whole", () => {
    const store = new TraceStore({ maxSpans: 4 });
    store.add([span(TRACE_A, "1", 1), span(TRACE_A, "2", 2), span(TRACE_B, "3", 3), span(TRACE_B, "4", 4)]);
    store.add([span(TRACE_C, "5", 5)]);

    expect(store.get(TRACE_A)).toBeUndefined();
    expect(idsOf(store, TRACE_B)).toEqual(["3", "4"]);
    expect(idsOf(store, TRACE_C)).toEqual(["5"]);
    expect([store.size, store.spans]).toEqual([2, 3]);
  });

  it("does not keep a trace longer for its being read", () => {
    const store = new TraceStore({ maxTraces: 2 });
    store.add([span(TRACE_A, "01", 1), span(TRACE_B, "01", 1)]);
    store.get(TRACE_A);
    store.add([span(TRACE_C, "01", 1)]);

    expect(store.get(TRACE_A)).toBeUndefined();
    expect([idsOf(store, TRACE_B), idsOf(store, TRACE_C)]).toEqual([["01"], ["01"]]);
  });

  it("answers a copy: what a caller does with the spans list does not change the store", () => {
    const store = new TraceStore();
    store.add([span(TRACE_A, "01", 1)]);
    store.get(TRACE_A)?.spans.pop();

    expect(idsOf(store, TRACE_A)).toEqual(["01"]);
  });

  it("refuses limits that are not positive integers, naming the limit", () => {
    expect(() => new TraceStore({ maxTraces: 0 })).toThrow(new RangeError("maxTraces must be a positive integer, got 0"));
    expect(() => new TraceStore({ maxSpansPerTrace: 1.5 })).toThrow(new RangeError("maxSpansPerTrace must be a positive integer, got 1.5"));
  });
});

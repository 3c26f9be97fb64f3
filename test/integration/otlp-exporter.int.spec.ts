import { createServer, type Server } from "node:http";
import { Errors, ServiceBroker, type Context, type Logger, type TracerOptions } from "moleculer";
import { waitFor } from "../../tools/wait-for";
import { otlpExporter, type OtlpExporterOptions, type OtlpTraceExporter } from "../../tracing/otlp-exporter";
import { addLink, KIND_TAG } from "../../tracing/recorded-span";
import { newSpanId } from "../../tracing/trace-context";
import { freePort } from "../support/free-port";

/** The slice of OTLP/JSON (opentelemetry-proto's ExportTraceServiceRequest) these tests read. */
interface OtlpKeyValue {
  key: string;
  value: { stringValue?: string; intValue?: number; doubleValue?: number; boolValue?: boolean };
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: OtlpKeyValue[];
  events: { name: string; timeUnixNano: string; attributes: OtlpKeyValue[] }[];
  links: { traceId: string; spanId: string; attributes: OtlpKeyValue[] }[];
  status: { code: number; message?: string };
}
interface OtlpRequest {
  resourceSpans: { resource: { attributes: OtlpKeyValue[] }; scopeSpans: { scope: { name: string }; spans: OtlpSpan[] }[] }[];
}
interface Received {
  path: string | undefined;
  contentType: string | undefined;
  authorization: string | undefined;
  body: OtlpRequest;
}

/** OTLP's span kinds and status codes as numbers on the wire. */
const KIND = { internal: 1, server: 2 } as const;
const STATUS = { unset: 0, error: 2 } as const;

const SPAN_ID = /^[0-9a-f]{16}$/;
/** The trace the order's first call continues, as a `traceparent` from outside would name it. */
const CALLER = { traceID: "4bf92f3577b34da6a3ce929d0e0e4736", id: "00f067aa0ba902b7", sampled: true };
/** The attempt a redelivery follows from: another trace. */
const FAILED_ATTEMPT = { traceId: "0af7651916cd43dd8448eb211c80319c", spanId: "b7ad6b7169203331" };

interface Collector {
  /** Its /v1/traces URL. */
  url: string;
  received: Received[];
  close(): Promise<void>;
}

/** An OTLP/HTTP receiver that keeps what it is sent and answers every request with `status`. */
async function startCollector(status: number): Promise<Collector> {
  const port = await freePort();
  const received: Received[] = [];
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      received.push({
        path: request.url,
        contentType: request.headers["content-type"],
        authorization: request.headers.authorization,
        body: JSON.parse(Buffer.concat(chunks).toString("utf8")) as OtlpRequest,
      });
      response.writeHead(status, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${port}/v1/traces`,
    received,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

function spansOf(received: Received[]): OtlpSpan[] {
  return received.flatMap((request) => request.body.resourceSpans.flatMap((resource) => resource.scopeSpans.flatMap((scope) => scope.spans)));
}

function attributes(values: OtlpKeyValue[]): Record<string, unknown> {
  return Object.fromEntries(values.map(({ key, value }) => [key, value.stringValue ?? value.intValue ?? value.doubleValue ?? value.boolValue]));
}

function byName(spans: OtlpSpan[]): Record<string, OtlpSpan> {
  return Object.fromEntries(spans.map((span) => [span.name, span]));
}

/** The exporter's logger, keeping its warnings: the broker's own logger is off. */
function warningLogger(): { logger: Logger; warnings: string[] } {
  const warnings: string[] = [];
  const ignore = () => undefined;
  const logger: Logger = {
    fatal: ignore,
    error: ignore,
    warn: (message: unknown) => void warnings.push(String(message)),
    info: ignore,
    debug: ignore,
    trace: ignore,
  };
  return { logger, warnings };
}

/**
 * orders.place calls stock.reserve (which records a chaos injection on a span of its own,
 * linked to an earlier attempt) and stock.release (which fails): four spans, finished in
 * the order chaos, reserve, release, place.
 */
async function startBroker(exporter: OtlpTraceExporter): Promise<ServiceBroker> {
  const broker = new ServiceBroker({
    nodeID: "otlp-node",
    logger: false,
    uidGenerator: newSpanId,
    // Moleculer's resolver takes an exporter instance (tracing/exporters/index.js); its types know only its own exporters.
    tracing: { enabled: true, exporter: [exporter] as unknown as TracerOptions["exporter"] },
  });
  broker.createService({
    name: "stock",
    actions: {
      reserve(ctx: Context) {
        const span = ctx.startSpan("chaos latency", { tags: { [KIND_TAG]: "internal", chaos: { kind: "latency" } } });
        addLink(span, { ...FAILED_ATTEMPT, attributes: { "link.reason": "redelivery" } });
        span.log("chaos.injected", { latencyMs: 250, target: "stock.reserve" });
        ctx.finishSpan(span);
        return { reserved: true };
      },
      release() {
        throw new Errors.MoleculerError("stock is gone", 503, "STOCK_GONE");
      },
    },
  });
  broker.createService({
    name: "orders",
    actions: {
      async place(ctx: Context) {
        await ctx.call("stock.reserve");
        await ctx.call("stock.release").catch(() => undefined);
        return { placed: true };
      },
    },
  });
  await broker.start();
  return broker;
}

const placeOrder = (broker: ServiceBroker) => broker.call("orders.place", {}, { parentSpan: CALLER });

/** What `make` returns, made while `env` is in process.env. */
function withEnv<T>(env: Record<string, string>, make: () => T): T {
  const saved = Object.fromEntries(Object.keys(env).map((name) => [name, process.env[name]]));
  Object.assign(process.env, env);
  try {
    return make();
  } finally {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
}

/** A timer that never fires within a test: what is sent is what flush(), stop() or a full batch sent. */
const NO_TICK: OtlpExporterOptions = { interval: 600_000 };

describe("OTLP exporter (OTLP/HTTP JSON to a real HTTP receiver)", () => {
  let collector: Collector | undefined;
  let broker: ServiceBroker | undefined;
  afterEach(async () => {
    await broker?.stop();
    await collector?.close();
    broker = undefined;
    collector = undefined;
  });

  async function start(options: OtlpExporterOptions, status = 200) {
    collector = await startCollector(status);
    const { logger, warnings } = warningLogger();
    const exporter = otlpExporter({ url: collector.url, logger, ...options });
    broker = await startBroker(exporter);
    return { collector, broker, exporter, warnings };
  }

  it("sends an order's spans in one request: one resource, the parent chain, kinds, the chaos event, the link and the error", async () => {
    const { collector, broker, exporter, warnings } = await start(NO_TICK);

    await placeOrder(broker);
    await exporter.flush();

    expect(collector.received.map(({ path, contentType }) => ({ path, contentType }))).toEqual([{ path: "/v1/traces", contentType: "application/json" }]);
    const [request] = collector.received;
    expect(request?.body.resourceSpans).toHaveLength(1);
    const [resource] = request?.body.resourceSpans ?? [];
    expect(attributes(resource?.resource.attributes ?? [])).toEqual({ "service.name": "glitchbuster", "service.instance.id": "otlp-node" });
    expect(resource?.scopeSpans.map((scope) => scope.scope.name)).toEqual(["glitchbuster"]);

    const spans = spansOf(collector.received);
    expect(spans.map((span) => span.name)).toEqual(["chaos latency", "action 'stock.reserve'", "action 'stock.release'", "action 'orders.place'"]);
    expect(new Set(spans.map((span) => span.traceId))).toEqual(new Set([CALLER.traceID]));
    expect(new Set(spans.map((span) => span.spanId)).size).toBe(4);
    for (const span of spans) {
      expect(span.spanId).toMatch(SPAN_ID);
      expect(BigInt(span.endTimeUnixNano)).toBeGreaterThanOrEqual(BigInt(span.startTimeUnixNano));
    }

    const { "action 'orders.place'": place, "action 'stock.reserve'": reserve, "action 'stock.release'": release, "chaos latency": chaos } = byName(spans);
    expect(place).toMatchObject({ parentSpanId: CALLER.id, kind: KIND.server, status: { code: STATUS.unset }, events: [], links: [] });
    expect(attributes(place?.attributes ?? [])).toMatchObject({ "action.name": "orders.place", "moleculer.service": "orders", callingLevel: 1 });
    expect(reserve).toMatchObject({ parentSpanId: place?.spanId, kind: KIND.server, status: { code: STATUS.unset } });
    expect(release).toMatchObject({ parentSpanId: place?.spanId, kind: KIND.server, status: { code: STATUS.error, message: "stock is gone" } });
    expect(attributes(release?.attributes ?? [])).toMatchObject({ "moleculer.service": "stock", "error.type": "MoleculerError" });

    expect(chaos).toMatchObject({ parentSpanId: reserve?.spanId, kind: KIND.internal, status: { code: STATUS.unset } });
    expect(attributes(chaos?.attributes ?? [])).toEqual({ "chaos.kind": "latency", "moleculer.service": "stock" });
    expect(chaos?.events.map((event) => ({ name: event.name, attributes: attributes(event.attributes) }))).toEqual([
      { name: "chaos.injected", attributes: { latencyMs: 250, target: "stock.reserve" } },
    ]);
    const eventTime = BigInt(chaos?.events[0]?.timeUnixNano ?? 0);
    expect(eventTime).toBeGreaterThanOrEqual(BigInt(chaos?.startTimeUnixNano ?? 0));
    expect(eventTime).toBeLessThanOrEqual(BigInt(chaos?.endTimeUnixNano ?? 0));
    expect(chaos?.links.map((link) => ({ traceId: link.traceId, spanId: link.spanId, attributes: attributes(link.attributes) }))).toEqual([
      { ...FAILED_ATTEMPT, attributes: { "link.reason": "redelivery" } },
    ]);

    expect(exporter.counts()).toEqual({ exported: 4, dropped: 0, failed: 0 });
    expect(warnings).toEqual([]);
  });

  it("sends queued spans on its interval, with no flush", async () => {
    const { collector, broker } = await start({ interval: 20 });

    await broker.call("stock.reserve");

    const spans = await waitFor(() => spansOf(collector.received).length === 2 && spansOf(collector.received), {
      timeoutMs: 5000,
      what: "the interval's export",
    });
    expect(spans.map((span) => span.name)).toEqual(["chaos latency", "action 'stock.reserve'"]);
  });

  it("sends a full batch at once, without waiting for the interval", async () => {
    const { collector, broker, exporter } = await start({ ...NO_TICK, maxBatch: 2 });

    await broker.call("stock.reserve");

    await waitFor(() => collector.received.length === 1, { timeoutMs: 5000, what: "the full batch's export" });
    expect(spansOf(collector.received).map((span) => span.name)).toEqual(["chaos latency", "action 'stock.reserve'"]);
    expect(exporter.counts()).toEqual({ exported: 2, dropped: 0, failed: 0 });
  });

  it("drops the oldest spans past maxQueue, counts them and warns once", async () => {
    const { collector, broker, exporter, warnings } = await start({ ...NO_TICK, maxQueue: 3 });

    await placeOrder(broker);
    await exporter.flush();

    expect(spansOf(collector.received).map((span) => span.name)).toEqual(["action 'stock.reserve'", "action 'stock.release'", "action 'orders.place'"]);
    expect(exporter.counts()).toEqual({ exported: 3, dropped: 1, failed: 0 });
    expect(warnings).toEqual(["OTLP exporter dropped 1 spans: more than 3 were waiting for the collector."]);

    await exporter.flush();
    expect(warnings).toHaveLength(1);
  });

  it("stop() sends what is still queued", async () => {
    const { collector, broker, exporter } = await start(NO_TICK);

    await broker.call("stock.reserve");
    expect(collector.received).toEqual([]);
    await broker.stop();

    expect(spansOf(collector.received).map((span) => span.name)).toEqual(["chaos latency", "action 'stock.reserve'"]);
    expect(exporter.counts()).toEqual({ exported: 2, dropped: 0, failed: 0 });
  });

  it("without a url it sends where OTEL_EXPORTER_OTLP_ENDPOINT says, with the headers of OTEL_EXPORTER_OTLP_HEADERS", async () => {
    collector = await startCollector(200);
    const endpoint = collector.url.replace(/\/v1\/traces$/, "");
    // The OTel exporter reads the environment when it is made.
    const exporter = withEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_EXPORTER_OTLP_HEADERS: "authorization=Bearer%20collector-token" }, () =>
      otlpExporter(NO_TICK),
    );
    broker = await startBroker(exporter);

    await broker.call("stock.reserve");
    await exporter.flush();

    expect(collector.received.map(({ path, authorization }) => ({ path, authorization }))).toEqual([
      { path: "/v1/traces", authorization: "Bearer collector-token" },
    ]);
    expect(exporter.counts()).toEqual({ exported: 2, dropped: 0, failed: 0 });
  });

  it("a collector answering 500 fails the export: stop() resolves, the spans are counted as failed and a warning is logged", async () => {
    const { collector, broker, exporter, warnings } = await start(NO_TICK, 500);

    await placeOrder(broker);
    await broker.stop();

    expect(collector.received).toHaveLength(1);
    expect(exporter.counts()).toEqual({ exported: 0, dropped: 0, failed: 4 });
    expect(warnings).toEqual(["OTLP export of 4 spans failed: Internal Server Error"]);
  });

  it("a collector that is not listening does not hold stop() past the export timeout", async () => {
    const timeoutMillis = 1000;
    const { broker, exporter, warnings } = await start({ ...NO_TICK, timeoutMillis, url: `http://127.0.0.1:${await freePort()}/v1/traces` });

    await placeOrder(broker);
    const stopping = Date.now();
    await broker.stop();
    const stopMs = Date.now() - stopping;

    // The OTel exporter retries a refused connection with backoff until its timeout is spent.
    expect(stopMs).toBeLessThan(timeoutMillis + 1000);
    expect(exporter.counts()).toEqual({ exported: 0, dropped: 0, failed: 4 });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^OTLP export of 4 spans failed: .*ECONNREFUSED/);
  });
});

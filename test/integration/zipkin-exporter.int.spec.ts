import { createServer } from "node:http";
import { ServiceBroker, TracerExporters } from "moleculer";
import { brokerTracing } from "../../tracing/broker-tracing";
import { KIND_TAG } from "../../tracing/recorded-span";
import { newSpanId, newTraceId } from "../../tracing/trace-context";
import { freePort } from "../support/free-port";
import { waitFor } from "../../tools/wait-for";

interface ZipkinSpan {
  traceId: string;
  id: string;
  parentId?: string;
  name: string;
  kind: string;
}

describe("TRACING_EXPORTERS=zipkin: Moleculer's Zipkin exporter, with W3C ids whole", () => {
  it("posts spans to ZIPKIN_URL/api/v2/spans with the 128-bit trace id and each span's kind", async () => {
    const received: { path: string | undefined; spans: ZipkinSpan[] }[] = [];
    const port = await freePort();
    const server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on("data", (chunk: Buffer) => chunks.push(chunk));
      request.on("end", () => {
        received.push({ path: request.url, spans: JSON.parse(Buffer.concat(chunks).toString("utf8")) as ZipkinSpan[] });
        response.writeHead(202).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
    const broker = new ServiceBroker({
      logger: false,
      uidGenerator: newSpanId,
      tracing: brokerTracing({ enabled: true, exporters: ["zipkin"], sampleRate: 1, zipkinUrl: `http://127.0.0.1:${port}` }),
    });
    broker.createService({ name: "stock", actions: { reserve: () => "reserved" } });
    await broker.start();
    try {
      const traceId = newTraceId();
      const producer = broker.tracer.startSpan("publish OrderCreated", { traceID: traceId, tags: { [KIND_TAG]: "producer" } });
      await broker.call("stock.reserve", {}, { parentSpan: producer });
      producer.finish();
      const zipkin = broker.tracer.exporter.find((exporter) => exporter instanceof TracerExporters.Zipkin) as TracerExporters.Zipkin & { flush(): void };
      zipkin.flush();

      await waitFor(() => received.length === 1, { what: "Zipkin to be posted to" });
      expect(received[0]!.path).toBe("/api/v2/spans");
      const spans = received[0]!.spans;
      expect(spans.map(({ traceId: id, name, kind }) => ({ id, name, kind })).sort((a, b) => a.name.localeCompare(b.name))).toEqual([
        { id: traceId, name: "action 'stock.reserve'", kind: "SERVER" },
        { id: traceId, name: "publish OrderCreated", kind: "PRODUCER" },
      ]);
      const reserve = spans.find((span) => span.name === "action 'stock.reserve'")!;
      expect(reserve.parentId).toBe(producer.id);
    } finally {
      await broker.stop();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

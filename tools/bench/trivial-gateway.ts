import { ServiceBroker } from "moleculer";
import ApiGateway from "moleculer-web";

/**
 * The ceiling for the gateway figures: moleculer-web with one route whose action answers a
 * constant, with the same broker and no transporter, so the ratio shows what our work costs.
 */
const broker = new ServiceBroker({ logger: false });
broker.createService({
  name: "trivial",
  actions: { answer: () => ({ ok: true }) },
});
broker.createService({
  name: "api",
  mixins: [ApiGateway],
  settings: {
    port: Number(process.env.PORT ?? 0),
    ip: "127.0.0.1",
    logRequest: null,
    logResponse: null,
    routes: [{ path: "/api", mappingPolicy: "restrict", aliases: { "POST /trivial": "trivial.answer", "GET /health": "trivial.answer" } }],
  },
});
void broker.start();

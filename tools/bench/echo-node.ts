import { ServiceBroker, Transporters } from "moleculer";
import { transporterOptions } from "../../moleculer.config";

/**
 * The far end of the transporter benchmark: one node with one action that answers at once.
 * BENCH_TRANSPORTER_DEFAULTS=1 gives it Moleculer's own AMQP defaults instead of ours.
 */
const url = process.env.TRANSPORTER!;
const broker = new ServiceBroker({
  namespace: process.env.BUS_NAMESPACE,
  nodeID: "echo",
  logger: false,
  transporter: process.env.BENCH_TRANSPORTER_DEFAULTS ? Transporters.resolve(url) : transporterOptions(url),
});
broker.createService({ name: "echo", actions: { ping: (ctx): unknown => ctx.params } });
void broker.start().then(() => process.send?.("ready"));

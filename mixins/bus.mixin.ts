import { Service, ServiceSchema } from "moleculer";
import { BusLogger, MessageBus, createMessageBus } from "../adapters/bus";
import { SharedResources } from "../adapters/shared-resources";

export interface BusMixinOptions {
  /** AMQP_URL, or "memory:" for the in-process bus of embedded mode. */
  url: string;
  /** Prefix of exchanges and queues (BUS_NAMESPACE): deployments that share a broker differ here. */
  namespace: string;
}

export type WithBus = Service & { bus: MessageBus };

const shared = new SharedResources<MessageBus>();

const keyOf = ({ url, namespace }: BusMixinOptions) => `${namespace} ${url}`;

/**
 * Gives a service `this.bus`, shared with the other services of the process that name the
 * same bus (one AMQP connection, or the one in-process bus), released when the service stops.
 */
export function BusMixin(options: BusMixinOptions): Partial<ServiceSchema> {
  return {
    created() {
      this.bus = acquireBus(options, this.broker.getLogger("bus"));
    },
    async stopped() {
      await releaseBus(options);
    },
  };
}

/** The bus of this process for these options; a test holds it to outlive the brokers it starts. */
export function acquireBus(options: BusMixinOptions, logger?: BusLogger): MessageBus {
  return shared.acquire(keyOf(options), () => createMessageBus(options.url, { namespace: options.namespace, logger }));
}

export function releaseBus(options: BusMixinOptions): Promise<void> {
  return shared.release(keyOf(options));
}

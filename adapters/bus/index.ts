import { AmqpMessageBus, AmqpMessageBusOptions } from "./amqp/bus";
import { MemoryMessageBus } from "./memory/bus";
import type { BusLogger } from "./logger";
import { MessageBus } from "./port";
import { SharedResources } from "../shared-resources";

export * from "./port";
export type { BusLogger };

export type MessageBusOptions = Omit<AmqpMessageBusOptions, "url">;

/**
 * Builds the bus that AMQP_URL names: RabbitMQ for `amqp://` or `amqps://` (connecting on
 * start() or on first use), the process's own bus when it is unset or `memory:`.
 */
export function createMessageBus(url: string | undefined, options: MessageBusOptions = {}): MessageBus {
  if (url === undefined || url === "memory:") {
    return new MemoryMessageBus({ stopTimeoutMs: options.stopTimeoutMs, random: options.random });
  }
  if (url.startsWith("amqp://") || url.startsWith("amqps://")) return new AmqpMessageBus({ ...options, url });
  throw new Error(`AMQP_URL ${url}: expected amqp://..., amqps://... or memory:`);
}

/** Which bus: the URL (AMQP_URL, or "memory:") and the namespace of its exchanges and queues. */
export interface BusAddress {
  /** AMQP_URL, or "memory:" for the in-process bus of embedded mode. */
  url: string;
  /** Prefix of exchanges and queues (BUS_NAMESPACE): deployments that share a broker differ here. */
  namespace: string;
}

const shared = new SharedResources<MessageBus>();

const keyOf = ({ url, namespace }: BusAddress) => `${namespace} ${url}`;

/** The bus of the process for this address (one AMQP connection, or the one in-process bus), shared by every service that names it. */
export function acquireMessageBus(address: BusAddress, logger?: BusLogger): MessageBus {
  return shared.acquire(keyOf(address), () => createMessageBus(address.url, { namespace: address.namespace, logger }));
}

export function releaseMessageBus(address: BusAddress): Promise<void> {
  return shared.release(keyOf(address));
}

import { AmqpMessageBus, AmqpMessageBusOptions } from "./amqp/bus";
import { MemoryMessageBus } from "./memory/bus";
import { MessageBus } from "./port";

export * from "./port";
export type { BusLogger } from "./logger";

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

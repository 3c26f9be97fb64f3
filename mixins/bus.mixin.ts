import { Service, ServiceSchema } from "moleculer";
import { BusAddress, MessageBus, acquireMessageBus, releaseMessageBus } from "../adapters/bus";

export type WithBus = Service & { bus: MessageBus };

/**
 * Gives a service `this.bus`, shared with the other services of the process that name the
 * same bus, released when the service stops.
 */
export function BusMixin(address: BusAddress): Partial<ServiceSchema> {
  return {
    created() {
      this.bus = acquireMessageBus(address, this.broker.getLogger("bus"));
    },
    async stopped() {
      await releaseMessageBus(address);
    },
  };
}

import { Service, ServiceSchema } from "moleculer";
import { EventStore, acquireEventStore, releaseEventStore } from "../adapters/event-store";

export interface EventStoreMixinOptions {
  /** EVENT_STORE_URL: memory:, sqlite:<path> or kurrentdb://... (esdb://... still accepted) */
  url: string;
}

export type WithEventStore = Service & { eventStore: EventStore };

/**
 * Gives a service `this.eventStore`, the adapter that the URL names, shared with the other
 * services of the process that name the same URL, and released when the service stops.
 */
export function EventStoreMixin({ url }: EventStoreMixinOptions): Partial<ServiceSchema> {
  return {
    created() {
      this.eventStore = acquireEventStore(url);
    },
    async stopped() {
      await releaseEventStore(url);
    },
  };
}

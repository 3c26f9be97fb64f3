import { ServiceSchemaFor } from "../lib/service-schema";
import { Checkpoints } from "../adapters/event-store/checkpoints";
import { BusMixin, BusMixinOptions, WithBus } from "../mixins/bus.mixin";
import { EventStoreMixin, WithEventStore } from "../mixins/event-store.mixin";
import { OutboxRelay } from "./relay/outbox-relay";

export interface RelayServiceOptions {
  eventStoreUrl: string;
  bus: BusMixinOptions;
  pollMs: number;
}

type RelayThis = WithEventStore & WithBus & { relay: OutboxRelay };

const BATCH_SIZE = 500;

/** Publishes every stored event to the bus, at least once (see OutboxRelay). */
export function relayService({ eventStoreUrl, bus, pollMs }: RelayServiceOptions): ServiceSchemaFor<RelayThis> {
  return {
    name: "relay",
    mixins: [EventStoreMixin({ url: eventStoreUrl }), BusMixin(bus)],
    actions: {
      health: {
        visibility: "public",
        async handler(this: RelayThis) {
          try {
            await this.bus.ping();
            return { bus: { status: "up" }, relay: { status: "up", ...this.relay.status() } };
          } catch (error) {
            return { bus: { status: "down", error: (error as Error).message } };
          }
        },
      },
    },
    created() {
      this.relay = new OutboxRelay({
        store: this.eventStore,
        bus: this.bus,
        checkpoints: new Checkpoints(this.eventStore),
        name: "relay",
        pollMs,
        batchSize: BATCH_SIZE,
        logger: this.logger,
      });
    },
    started() {
      this.relay.start();
    },
    async stopped() {
      await this.relay.stop();
    },
  };
}

import { ServiceSchemaFor } from "./shared/service-schema";
import { Checkpoints } from "../adapters/event-store/checkpoints";
import { BusMixin, WithBus } from "../mixins/bus.mixin";
import type { BusAddress } from "../adapters/bus";
import { EventStoreMixin, WithEventStore } from "../mixins/event-store.mixin";
import { OutboxRelay, PublishTrace } from "./relay/outbox-relay";
import { RecordedEvent } from "../adapters/event-store";
import { TRACEPARENT, endSpan, messagingSystem, startSpanFrom, traceparentOf } from "../tracing/spans";

export interface RelayServiceOptions {
  eventStoreUrl: string;
  bus: BusAddress;
  /** The fallback poll: appends wake the relay, this catches a missed wake (RELAY_POLL_MS). */
  pollMs: number;
  /** Messages published and not yet safe at once: WINDOW_SIZE unless given. */
  windowSize?: number;
  /** How long a dead leader keeps the standby relays waiting: LEASE_TTL_MS unless given. */
  leaseTtlMs?: number;
}

type RelayThis = WithEventStore & WithBus & { relay: OutboxRelay; tracePublish(event: RecordedEvent): PublishTrace | undefined };

const BATCH_SIZE = 500;
/**
 * On the memory bus a message is safe once its consumers settled it, so this bounds the saga
 * messages held in memory (~1 KB each): about two seconds of sagas at their measured pace
 * (~450/s on one core, DESIGN.md §7), enough that the orchestrator never waits for the relay.
 */
const WINDOW_SIZE = 1000;

/**
 * Publishes every stored event to the bus, at least once (see OutboxRelay). Any number of
 * nodes may run it: one publishes, the others stand by and take over when it dies.
 */
export function relayService({ eventStoreUrl, bus, pollMs, windowSize = WINDOW_SIZE, leaseTtlMs }: RelayServiceOptions): ServiceSchemaFor<RelayThis> {
  return {
    name: "relay",
    mixins: [EventStoreMixin({ url: eventStoreUrl }), BusMixin(bus)],
    events: {
      "$broker.started"(this: RelayThis) {
        this.relay.start();
      },
    },
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
        windowSize,
        leaseTtlMs,
        logger: this.logger,
        ...(this.broker.isTracingEnabled() ? { tracePublish: (event: RecordedEvent) => this.tracePublish(event) } : {}),
      });
    },
    methods: {
      /**
       * A producer span, child of the span that recorded the event (its metadata's traceparent),
       * from the publish until the message is safe. Events recorded with no trace (a checkpoint,
       * a lease, history from before tracing) are published untraced.
       */
      tracePublish(this: RelayThis, event: RecordedEvent): PublishTrace | undefined {
        const carried = event.metadata[TRACEPARENT];
        if (carried === undefined) return undefined;
        const span = startSpanFrom(this.broker, carried, `publish ${event.type}`, {
          kind: "producer",
          service: this,
          tags: {
            "messaging.system": messagingSystem(bus.url),
            "messaging.destination.name": event.type,
            "messaging.message.id": event.id,
            "event.stream": event.stream,
            "event.position": event.position.toString(),
          },
        });
        const traceparent = traceparentOf(span);
        return traceparent === undefined ? undefined : { headers: { [TRACEPARENT]: traceparent }, end: (error) => endSpan(span, error) };
      },
    },
    /**
     * Publishing waits for every local service to have started: on the memory bus a queue
     * exists only once its consumer declared it, and a message routed to no queue is dropped,
     * as on RabbitMQ, where queues outlive the process that declared them.
     */
    started() {
      if (this.broker.started) this.relay.start();
    },
    async stopped() {
      await this.relay.stop();
    },
  };
}

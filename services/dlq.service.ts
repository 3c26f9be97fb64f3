import { Context, Errors } from "moleculer";
import { ServiceSchemaFor } from "../lib/service-schema";
import { Consumer, DeadLetter } from "../adapters/bus/port";
import * as deadLetterDecider from "../domain/dead-letter";
import { DeadLetterCommand, DeadLetterEntry, DeadLetterErrorCode, DeadLetterEvent } from "../domain/dead-letter";
import { DomainError } from "../domain/errors";
import { nameBasedUuid } from "../lib/ids";
import { AggregateRepository } from "../mixins/aggregate-repository";
import { appMetric } from "../mixins/app-metrics";
import { BusMixin, BusMixinOptions, WithBus } from "../mixins/bus.mixin";
import { DomainErrorsMixin } from "../mixins/domain-errors.mixin";
import { eventMetadata } from "../mixins/event-metadata";
import { EventStoreMixin, WithEventStore } from "../mixins/event-store.mixin";
import { AggregateList, InvalidCursor } from "../projections/aggregate-list";

export interface DlqServiceOptions {
  eventStoreUrl: string;
  bus: BusMixinOptions;
}

type Entry = Exclude<DeadLetterEntry, { status: "none" }>;

/** One line of the list: enough to decide what to do, without the payload. */
export interface DeadLetterSummary {
  id: string;
  status: Entry["status"];
  originQueue: string;
  eventType: string;
  orderId: string | null;
  attempts: number;
  lastError: string;
  lastFailureAt: string;
  deaths: number;
  replays: number;
}

export interface DlqFilter {
  originQueue?: string;
  eventType?: string;
  status?: Entry["status"];
}

type DlqThis = WithEventStore &
  WithBus & {
    entries: AggregateRepository<DeadLetterCommand, DeadLetterEvent, DeadLetterEntry>;
    list: AggregateList<DeadLetterEvent, DeadLetterEntry>;
    drain: Consumer | undefined;
    store(deadLetter: DeadLetter): Promise<void>;
    reportDepth(): Promise<number>;
    replayEntry(ctx: Context, id: string): Promise<Entry>;
    matching(filter: DlqFilter): Promise<Entry[]>;
  };

/** Entries are named by origin queue and message id: a message that dies again is the same entry. */
const ENTRY_NAMESPACE = "3c0f4d7e-9a51-4b7e-8f0e-6d2a4c9b1e55";
const DEFAULT_PAGE_SIZE = 20;

const STATUS_OF: Record<DeadLetterErrorCode, 404 | 409> = {
  DEAD_LETTER_NOT_FOUND: 404,
  DEAD_LETTER_PURGED: 409,
  DEAD_LETTER_REPLAYED: 409,
};

const id = { type: "uuid" } as const;
const filterParams = {
  originQueue: { type: "string", min: 1, max: 200, optional: true },
  eventType: { type: "string", min: 1, max: 200, optional: true },
} as const;

export function summaryOf(entry: Entry): DeadLetterSummary {
  const { message } = entry;
  const orderId = (message.payload.data as { orderId?: unknown } | undefined)?.orderId;
  return {
    id: entry.id,
    status: entry.status,
    originQueue: message.originQueue,
    eventType: message.topic,
    orderId: typeof orderId === "string" ? orderId : null,
    attempts: message.attempts,
    lastError: `${message.error.name}: ${message.error.message}`,
    lastFailureAt: message.lastFailureAt,
    deaths: entry.deaths,
    replays: entry.replays,
  };
}

const matches = (filter: DlqFilter) => (entry: DeadLetterEntry) =>
  entry.status !== "none" &&
  (filter.status === undefined || entry.status === filter.status) &&
  (filter.originQueue === undefined || entry.message.originQueue === filter.originQueue) &&
  (filter.eventType === undefined || entry.message.topic === filter.eventType);

/**
 * Drains the bus's dead letters into the event store (each is acked only once stored), and
 * lets an operator list, inspect, replay and purge them. Entries are event-sourced (stream
 * deadletter-<id>): a purge is kept as a record, and replaying twice sends the message once.
 */
export function dlqService({ eventStoreUrl, bus }: DlqServiceOptions): ServiceSchemaFor<DlqThis> {
  return {
    name: "dlq",
    mixins: [EventStoreMixin({ url: eventStoreUrl }), BusMixin(bus), DomainErrorsMixin(STATUS_OF)],

    actions: {
      list: {
        params: {
          $$strict: true,
          ...filterParams,
          status: { type: "enum", values: ["dead", "replayed", "purged"], optional: true },
          limit: { type: "number", integer: true, min: 1, max: 100, convert: true, optional: true },
          cursor: { type: "string", min: 1, max: 64, optional: true },
        },
        async handler(this: DlqThis, ctx: Context<DlqFilter & { limit?: number; cursor?: string }>) {
          const { limit = DEFAULT_PAGE_SIZE, cursor, ...filter } = ctx.params;
          await this.list.catchUp(this.eventStore);
          try {
            const page = this.list.query(limit, cursor, matches(filter));
            return { items: page.items.map((entry) => summaryOf(entry as Entry)), nextCursor: page.nextCursor };
          } catch (error) {
            if (!(error instanceof InvalidCursor)) throw error;
            throw new Errors.ValidationError(error.message, "VALIDATION_ERROR", [{ type: "cursor", field: "cursor", message: error.message }]);
          }
        },
      },

      show: {
        params: { $$strict: true, id },
        async handler(this: DlqThis, ctx: Context<{ id: string }>): Promise<Entry> {
          const { state } = await this.entries.load(ctx.params.id);
          if (state.status === "none") throw new DomainError("DEAD_LETTER_NOT_FOUND", `dead letter ${ctx.params.id} not found`);
          return state;
        },
      },

      replay: {
        params: { $$strict: true, id },
        async handler(this: DlqThis, ctx: Context<{ id: string }>): Promise<DeadLetterSummary> {
          const replayed = summaryOf(await this.replayEntry(ctx, ctx.params.id));
          await this.reportDepth();
          return replayed;
        },
      },

      replayAll: {
        params: { $$strict: true, ...filterParams },
        async handler(this: DlqThis, ctx: Context<DlqFilter>) {
          const dead = await this.matching({ ...ctx.params, status: "dead" });
          for (const entry of dead) await this.replayEntry(ctx, entry.id);
          await this.reportDepth();
          return { replayed: dead.length };
        },
      },

      purge: {
        params: { $$strict: true, id, reason: { type: "string", min: 1, max: 500 } },
        async handler(this: DlqThis, ctx: Context<{ id: string; reason: string }>): Promise<DeadLetterSummary> {
          const now = new Date().toISOString();
          const command: DeadLetterCommand = { type: "PurgeDeadLetter", data: { entryId: ctx.params.id, reason: ctx.params.reason }, metadata: { now } };
          const { state } = await this.entries.handle(ctx.params.id, command, eventMetadata(ctx, now));
          await this.reportDepth();
          return summaryOf(state as Entry);
        },
      },

      depth: {
        visibility: "public",
        async handler(this: DlqThis): Promise<{ depth: number }> {
          return { depth: await this.reportDepth() };
        },
      },
    },

    methods: {
      async store(this: DlqThis, deadLetter: DeadLetter): Promise<void> {
        const entryId = nameBasedUuid(ENTRY_NAMESPACE, `${deadLetter.originQueue}\n${deadLetter.messageId}`);
        const now = new Date().toISOString();
        const message = { ...deadLetter, payload: deadLetter.payload as Record<string, unknown> };
        await this.entries.handle(entryId, { type: "RecordDeadLetter", data: { entryId, message }, metadata: { now } }, {
          correlationId: String(deadLetter.headers.correlationId ?? deadLetter.messageId),
          causationId: deadLetter.messageId,
          occurredAt: now,
        });
        await this.reportDepth();
        this.logger.warn(`dead letter ${entryId}: ${deadLetter.topic} from ${deadLetter.originQueue} after ${deadLetter.attempts} attempts: ${deadLetter.error.message}`);
      },

      /** Sends first, records after: a crash in between means a second send, never a lost message. */
      async replayEntry(this: DlqThis, ctx: Context, entryId: string): Promise<Entry> {
        const now = new Date().toISOString();
        const command: DeadLetterCommand = { type: "ReplayDeadLetter", data: { entryId }, metadata: { now } };
        const { state } = await this.entries.load(entryId);
        if (deadLetterDecider.decide(command, state).length > 0 && state.status !== "none") {
          const { messageId, topic, payload, headers, originQueue } = state.message;
          await this.bus.sendToQueue(originQueue, { messageId, topic, payload, headers });
        }
        const handled = await this.entries.handle(entryId, command, eventMetadata(ctx, now));
        return handled.state as Entry;
      },

      /** The number of dead letters, also kept in the DLQ depth gauge. */
      async reportDepth(this: DlqThis): Promise<number> {
        const depth = (await this.matching({ status: "dead" })).length;
        this.broker.metrics.set(appMetric(this.broker, "dlqDepth"), depth);
        return depth;
      },

      async matching(this: DlqThis, filter: DlqFilter): Promise<Entry[]> {
        await this.list.catchUp(this.eventStore);
        return this.list.filter(matches(filter)) as Entry[];
      },
    },

    created() {
      this.entries = new AggregateRepository(this.eventStore, deadLetterDecider, "deadletter");
      this.list = new AggregateList<DeadLetterEvent, DeadLetterEntry>({
        streamPrefix: "deadletter",
        initialState: deadLetterDecider.initialState,
        evolve: deadLetterDecider.evolve,
        exists: (entry) => entry.status !== "none",
      });
    },

    async started() {
      await this.reportDepth();
      this.drain = await this.bus.consumeDeadLetters((deadLetter: DeadLetter) => this.store(deadLetter));
    },

    async stopped() {
      await this.drain?.stop();
    },
  };
}

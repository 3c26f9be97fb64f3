import { randomUUID } from "node:crypto";
import { Context, Errors } from "moleculer";
import { ServiceSchemaFor } from "./shared/service-schema";
import { Consumer, DeadLetter } from "../adapters/bus/port";
import * as deadLetterDecider from "../domain/dead-letter";
import { DeadLetterCommand, DeadLetterEntry, DeadLetterErrorCode, DeadLetterEvent, ReplayClaim } from "../domain/dead-letter";
import { DomainError } from "../domain/errors";
import { EventMetadata, JsonObject, WrongExpectedRevision } from "../adapters/event-store";
import { nameBasedUuid } from "./shared/ids";
import { Clock, systemClock } from "../adapters/clock";
import { typedText } from "./shared/typed-text";
import { AggregateRepository, Loaded } from "../adapters/event-store/aggregate-repository";
import { MetricsMixin, appMetric } from "../mixins/metrics.mixin";
import { BusMixin, WithBus } from "../mixins/bus.mixin";
import type { BusAddress } from "../adapters/bus";
import { DomainErrorsMixin } from "../mixins/domain-errors.mixin";
import { eventMetadata } from "./shared/event-metadata";
import { EventStoreMixin, WithEventStore } from "../mixins/event-store.mixin";
import { ProjectionMixin, WithProjection } from "../mixins/projection.mixin";
import { DEAD_LETTERS_VIEW } from "../adapters/read-model/dead-letters-view";
import { InvalidCursor } from "../adapters/read-model/projection";

export interface DlqServiceOptions {
  eventStoreUrl: string;
  /** READ_MODEL_URL: where the DLQ list lives; chosen from eventStoreUrl when unset. */
  readModelUrl?: string;
  bus: BusAddress;
  /** Where commands read the time. */
  clock?: Clock;
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
  WithBus &
  WithProjection<DeadLetterEntry> & {
    entries: AggregateRepository<DeadLetterCommand, DeadLetterEvent, DeadLetterEntry>;
    drain: Consumer | undefined;
    /** Ids of the replay claims this service instance holds right now (between claim and completion). */
    claimsInFlight: Set<string>;
    /** The pass that finishes replays left behind by a process that died (at start, when a node leaves). */
    recovery: Promise<void> | undefined;
    recoveryTimer: NodeJS.Timeout | undefined;
    recover(): void;
    store(deadLetter: DeadLetter): Promise<void>;
    reportDepth(): Promise<number>;
    replayEntry(entryId: string, metadata: (now: string) => EventMetadata): Promise<Replay>;
    appendDecided(entryId: string, command: DeadLetterCommand, loaded: Loaded<DeadLetterEntry>, metadata: EventMetadata): Promise<Entry | undefined>;
    isAbandoned(claim: ReplayClaim): boolean;
    replayable(entry: Entry): boolean;
    finishInterruptedReplays(): Promise<void>;
    matching(filter: DlqFilter): Promise<Entry[]>;
  };

/** What one replay of one entry did: `sent` when this replay claimed the entry and sent its message. */
interface Replay {
  entry: Entry;
  sent: boolean;
}

/** Entries are named by origin queue and message id: a message that dies again is the same entry. */
const ENTRY_NAMESPACE = "3c0f4d7e-9a51-4b7e-8f0e-6d2a4c9b1e55";
const DEFAULT_PAGE_SIZE = 20;

const STATUS_OF: Record<DeadLetterErrorCode, 404 | 409> = {
  DEAD_LETTER_NOT_FOUND: 404,
  DEAD_LETTER_PURGED: 409,
  DEAD_LETTER_REPLAYED: 409,
  DEAD_LETTER_REPLAYING: 409,
  DEAD_LETTER_CONFLICT: 409,
};

const id = { type: "uuid" } as const;
const filterParams = {
  originQueue: { ...typedText(200), optional: true },
  eventType: { ...typedText(200), optional: true },
} as const;

const isRecorded = (entry: DeadLetterEntry): entry is Entry => entry.status !== "none";

/** The entry, known to exist: its stream holds events (a 404 otherwise). */
function recorded(entry: DeadLetterEntry, entryId: string): Entry {
  if (!isRecorded(entry)) throw new DomainError<DeadLetterErrorCode>("DEAD_LETTER_NOT_FOUND", `dead letter ${entryId} not found`);
  return entry;
}

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

/** A filter of the list as the columns of its table (adapters/read-model/dead-letters-view.ts). */
const columnsOf = (filter: DlqFilter) => ({ status: filter.status, origin_queue: filter.originQueue, event_type: filter.eventType });

/**
 * Drains the bus's dead letters into the event store (each is acked only once stored), and
 * lets an operator list, inspect, replay and purge them. Entries are event-sourced (stream
 * deadletter-<id>): a purge is kept as a record, and replaying twice sends the message once.
 *
 * Concurrent operators (two "Replay all" at once, a replay racing a purge, several nodes) are
 * settled by the entry's stream: a replay or a purge appends its claim at the revision it
 * loaded, and only the one whose append succeeds goes on; the others are told 409 (or, within
 * a replay-all, skip the entry). A message is sent only by the replay that holds the claim.
 */
export function dlqService({ eventStoreUrl, readModelUrl, bus, clock = systemClock }: DlqServiceOptions): ServiceSchemaFor<DlqThis> {
  return {
    name: "dlq",
    mixins: [
      EventStoreMixin({ url: eventStoreUrl }),
      ProjectionMixin({ name: "dead-letters", definition: DEAD_LETTERS_VIEW, eventStoreUrl, readModelUrl }),
      BusMixin(bus),
      DomainErrorsMixin(STATUS_OF),
      MetricsMixin(["dlqDepth"]),
    ],

    events: {
      /** A node that left may have held claims: finish its replays. */
      "$node.disconnected"(this: DlqThis) {
        this.recover();
      },
    },

    actions: {
      list: {
        params: {
          $$strict: true,
          ...filterParams,
          status: { type: "enum", values: ["dead", "replaying", "replayed", "purged"], optional: true },
          limit: { type: "number", integer: true, min: 1, max: 100, convert: true, optional: true },
          cursor: { type: "string", min: 1, max: 64, optional: true },
        },
        async handler(this: DlqThis, ctx: Context<DlqFilter & { limit?: number; cursor?: string }>) {
          const { limit = DEFAULT_PAGE_SIZE, cursor, ...filter } = ctx.params;
          try {
            // Caught up first: the caller sees its own writes.
            const page = await this.projection.list(columnsOf(filter), limit, cursor);
            return { items: page.items.filter(isRecorded).map(summaryOf), nextCursor: page.nextCursor };
          } catch (error) {
            if (!(error instanceof InvalidCursor)) throw error;
            throw new Errors.ValidationError(error.message, "VALIDATION_ERROR", [{ type: "cursor", field: "cursor", message: error.message }]);
          }
        },
      },

      show: {
        params: { $$strict: true, id },
        async handler(this: DlqThis, ctx: Context<{ id: string }>): Promise<Entry> {
          return recorded((await this.entries.load(ctx.params.id)).state, ctx.params.id);
        },
      },

      replay: {
        params: { $$strict: true, id },
        async handler(this: DlqThis, ctx: Context<{ id: string }>): Promise<DeadLetterSummary> {
          const { entry } = await this.replayEntry(ctx.params.id, (now) => eventMetadata(ctx, now));
          await this.reportDepth();
          return summaryOf(entry);
        },
      },

      replayAll: {
        params: { $$strict: true, ...filterParams },
        async handler(this: DlqThis, ctx: Context<DlqFilter>) {
          // Only dead entries and abandoned replays can be replayed: the others are not read.
          const [dead, replaying] = [await this.matching({ ...ctx.params, status: "dead" }), await this.matching({ ...ctx.params, status: "replaying" })];
          const candidates = [...dead, ...replaying].filter((entry) => this.replayable(entry));
          let replayed = 0;
          for (const entry of candidates) {
            try {
              if ((await this.replayEntry(entry.id, (now) => eventMetadata(ctx, now))).sent) replayed += 1;
            } catch (error) {
              // Claimed, replayed or purged by another operation since the list was read: not ours.
              if (!(error instanceof DomainError)) throw error;
            }
          }
          await this.reportDepth();
          return { replayed };
        },
      },

      purge: {
        params: { $$strict: true, id, reason: typedText(500) },
        async handler(this: DlqThis, ctx: Context<{ id: string; reason: string }>): Promise<DeadLetterSummary> {
          const now = clock.now().toISOString();
          const command: DeadLetterCommand = { type: "PurgeDeadLetter", data: { entryId: ctx.params.id, reason: ctx.params.reason }, metadata: { now } };
          // Claimed at the revision decided on, like a replay: of a purge and a replay racing, one wins.
          const loaded = await this.entries.load(ctx.params.id);
          const purged = await this.appendDecided(ctx.params.id, command, loaded, eventMetadata(ctx, now));
          await this.reportDepth();
          return summaryOf(purged ?? recorded(loaded.state, ctx.params.id));
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
        const now = clock.now().toISOString();
        const message = { ...deadLetter, payload: deadLetter.payload as Record<string, unknown> };
        await this.entries.handle(
          entryId,
          { type: "RecordDeadLetter", data: { entryId, message }, metadata: { now } },
          {
            correlationId: String(deadLetter.headers.correlationId ?? deadLetter.messageId),
            causationId: deadLetter.messageId,
            occurredAt: now,
          },
        );
        await this.reportDepth();
        this.logger.warn(
          `dead letter ${entryId}: ${deadLetter.topic} from ${deadLetter.originQueue} after ${deadLetter.attempts} attempts: ${deadLetter.error.message}`,
        );
      },

      /**
       * Claim, send, complete. The claim (DeadLetterReplayClaimed, at the revision loaded)
       * makes this replay the only one that may send the message: a concurrent replay or purge
       * that loaded the same revision fails its append (409 DEAD_LETTER_CONFLICT), one that
       * loads after it sees "replaying" (409 DEAD_LETTER_REPLAYING). Sending before the claim
       * would let two operators both send; claiming as "replayed" before sending would lose the
       * message to a crash in between. Hence the pending state:
       * - a crash between the claim and the send (or between the send and the completion)
       *   leaves the entry "replaying", claimed by a broker instance that no longer exists.
       *   Such a claim is abandoned: the next DLQ to start (or to see that node leave), a
       *   "Replay all" or a replay of that entry takes it over, again at the revision it loaded
       *   (so exactly one of them does), and sends. The message is sent at least once; twice
       *   only when the crash came after the send, or when a node the cluster took for gone
       *   (missed heartbeats) was still sending (the consumers are idempotent, as for any
       *   redelivery); never twice by two live operators, since a live claim is never taken over.
       * - a send that fails gives the claim back (DeadLetterReplayReleased): dead again.
       */
      async replayEntry(this: DlqThis, entryId: string, metadata: (now: string) => EventMetadata): Promise<Replay> {
        const now = clock.now().toISOString();
        const loaded = await this.entries.load(entryId);
        const { state } = loaded;
        const claimId = randomUUID();
        const abandoned = state.status === "replaying" && state.claim !== null && this.isAbandoned(state.claim) ? state.claim.id : undefined;
        const claimant = { claimId, nodeID: this.broker.nodeID, instanceID: this.broker.instanceID };
        const command: DeadLetterCommand = {
          type: "ReplayDeadLetter",
          data: { entryId, ...claimant, ...(abandoned ? { takeOver: abandoned } : {}) },
          metadata: { now },
        };
        this.claimsInFlight.add(claimId);
        try {
          const claimed = await this.appendDecided(entryId, command, loaded, metadata(now));
          if (!claimed) return { entry: recorded(state, entryId), sent: false };
          const { messageId, topic, payload, headers, originQueue } = claimed.message;
          try {
            await this.bus.sendToQueue(originQueue, { messageId, topic, payload, headers });
          } catch (error) {
            const reason = error instanceof Error ? error.message : String(error);
            const release: DeadLetterCommand = { type: "ReleaseReplay", data: { entryId, claimId, reason }, metadata: { now } };
            await this.entries.handle(entryId, release, metadata(clock.now().toISOString())).catch((releaseError: unknown) => {
              // The claim stays; this instance no longer holds it, so a later replay takes it over.
              this.logger.error(`dead letter ${entryId}: could not give back the claim of a failed replay: ${String(releaseError)}`);
            });
            throw error;
          }
          const complete: DeadLetterCommand = { type: "CompleteReplay", data: { entryId, claimId }, metadata: { now } };
          const completed = await this.entries.handle(entryId, complete, metadata(clock.now().toISOString()));
          return { entry: recorded(completed.state, entryId), sent: true };
        } finally {
          // Held until the completion is recorded: until then, this instance's claim is live.
          this.claimsInFlight.delete(claimId);
        }
      },

      /**
       * Decides a command on the state loaded and appends its events at the revision loaded:
       * another operation's append in between is a conflict, never decided again (it may have
       * claimed the entry, and then this one must not send). Undefined when nothing was to do.
       */
      async appendDecided(
        this: DlqThis,
        entryId: string,
        command: DeadLetterCommand,
        { state, revision }: Loaded<DeadLetterEntry>,
        metadata: EventMetadata,
      ): Promise<Entry | undefined> {
        const events = deadLetterDecider.decide(command, state);
        if (events.length === 0) return undefined;
        try {
          await this.eventStore.append(
            this.entries.streamOf(entryId),
            events.map((event) => ({ id: randomUUID(), type: event.type, data: event.data as JsonObject, metadata: { ...metadata } })),
            { expectedRevision: revision },
          );
        } catch (error) {
          if (!(error instanceof WrongExpectedRevision)) throw error;
          throw new DomainError<DeadLetterErrorCode>(
            "DEAD_LETTER_CONFLICT",
            `dead letter ${entryId} was claimed, replayed or purged by another operation meanwhile; nothing was done`,
          );
        }
        return recorded(events.reduce(deadLetterDecider.evolve, state), entryId);
      },

      /**
       * Whether the holder of a claim is gone: this service instance when it does not hold it
       * (any more), another broker when the registry knows no live node with that instance
       * (a restarted node has a new instance id). A live claim is never taken over.
       */
      isAbandoned(this: DlqThis, claim: ReplayClaim): boolean {
        if (claim.nodeID === this.broker.nodeID && claim.instanceID === this.broker.instanceID) return !this.claimsInFlight.has(claim.id);
        const node = this.broker.registry.nodes.get(claim.nodeID);
        return !node || !node.available || node.instanceID !== claim.instanceID;
      },

      /** Dead, or claimed by a replay whose process is gone. */
      replayable(this: DlqThis, entry: Entry): boolean {
        return entry.status === "dead" || (entry.status === "replaying" && entry.claim !== null && this.isAbandoned(entry.claim));
      },

      /** Starts a recovery pass unless one is running; it never throws (what it cannot finish waits for the next). */
      recover(this: DlqThis): void {
        // Nodes leave while the broker stops too: the stores may be closed already.
        if (this.recovery || this.broker.stopping) return;
        this.recovery = this.finishInterruptedReplays()
          .catch((error: unknown) => this.logger.warn(`interrupted replays not finished: ${String(error)}`))
          .finally(() => (this.recovery = undefined));
      },

      async finishInterruptedReplays(this: DlqThis): Promise<void> {
        const interrupted = (await this.matching({ status: "replaying" })).filter((entry) => this.replayable(entry));
        const cause = `dlq-recovery-${this.broker.instanceID}`;
        for (const entry of interrupted) {
          try {
            await this.replayEntry(entry.id, (now) => ({ correlationId: cause, causationId: entry.claim?.id ?? cause, occurredAt: now }));
            this.logger.warn(`dead letter ${entry.id}: finished a replay interrupted by the end of ${entry.claim?.nodeID}`);
          } catch (error) {
            this.logger.warn(`dead letter ${entry.id}: an interrupted replay is still to finish: ${String(error)}`);
          }
        }
        if (interrupted.length > 0) await this.reportDepth();
      },

      /** The number of dead letters, also kept in the DLQ depth gauge. */
      async reportDepth(this: DlqThis): Promise<number> {
        // A replay under way (or interrupted) has not delivered its message yet: still counted.
        const counts = await this.projection.counts();
        const depth = (counts.dead ?? 0) + (counts.replaying ?? 0);
        this.broker.metrics.set(appMetric(this.broker, "dlqDepth"), depth);
        return depth;
      },

      /** Every entry that matches, oldest first, read from the list page by page after catching up. */
      async matching(this: DlqThis, filter: DlqFilter): Promise<Entry[]> {
        return (await this.projection.all(columnsOf(filter))).filter(isRecorded).reverse();
      },
    },

    created() {
      this.claimsInFlight = new Set();
      this.entries = new AggregateRepository(this.eventStore, deadLetterDecider, "deadletter");
    },

    async started() {
      await this.reportDepth();
      this.drain = await this.bus.consumeDeadLetters((deadLetter: DeadLetter) => this.store(deadLetter));
      // In a cluster, other nodes' claims are judged by the registry, which needs the
      // heartbeat timeout to learn who is there after a start; alone, there is nobody to wait for.
      const settleMs = this.broker.transit ? (this.broker.options.heartbeatTimeout ?? 15) * 1000 : 0;
      if (settleMs === 0) this.recover();
      else this.recoveryTimer = setTimeout(() => this.recover(), settleMs).unref();
    },

    async stopped() {
      clearTimeout(this.recoveryTimer);
      await this.drain?.stop();
      await this.recovery;
    },
  };
}

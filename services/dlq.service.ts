import { randomUUID } from "node:crypto";
import { Context, Errors } from "moleculer";
import { ServiceSchemaFor } from "./shared/service-schema";
import { Consumer, DeadLetter } from "../adapters/bus/port";
import * as deadLetterDecider from "../domain/dead-letter";
import { DeadLetterCommand, DeadLetterEntry, DeadLetterErrorCode, DeadLetterEvent, PatchOperation, ReplayClaim } from "../domain/dead-letter";
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
import { DEAD_LETTERS_VIEW, groupOf } from "../adapters/read-model/dead-letters-view";
import { InvalidCursor } from "../adapters/read-model/projection";
import { acquireReadModelStore, readModelUrlFor, releaseReadModelStore } from "../adapters/read-model";
import { DlqJobErrorCode, DlqJobFilter, DlqJobKind, DlqJobStatus } from "../domain/dlq-job";
import { adminOf } from "../middlewares/admin-audit";
import { DEFAULT_DLQ_REPLAY_RATE } from "../config";
import { DlqJobView, StartedJob } from "./dlq/jobs";
import { EntryOutcome } from "./dlq/job-runner";
import { DlqJobs } from "./dlq/dlq-jobs";
import { DeadLetterGroup, groupsOf } from "./dlq/groups";
import { PatchRefused, patchedPayload } from "./dlq/payload-patch";

export interface DlqServiceOptions {
  eventStoreUrl: string;
  /** READ_MODEL_URL: where the DLQ list lives; chosen from eventStoreUrl when unset. */
  readModelUrl?: string;
  bus: BusAddress;
  /** DLQ_REPLAY_RATE: entries per second a job replays or purges at most; 0: as fast as they go. */
  replayRate?: number;
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
  /** Its cause (GET /api/dlq/groups). */
  group: string;
  /** Whether an operator fixed its payload since it died. */
  edited: boolean;
}

export interface DlqFilter {
  originQueue?: string;
  eventType?: string;
  status?: Entry["status"];
  group?: string;
}

/** What moleculer-web reads from the context's meta to shape the answer. */
interface GatewayMeta {
  $statusCode?: number;
  $responseHeaders?: Record<string, string>;
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
    jobs: DlqJobs;
    startJob(ctx: Context<unknown, GatewayMeta>, kind: DlqJobKind, filter: DlqJobFilter, entries: Entry[], reason: string | null): Promise<DlqJobView>;
    runJobEntry(job: StartedJob, entryId: string, metadata: (now: string) => EventMetadata): Promise<EntryOutcome>;
  };

/** What one replay of one entry did: `sent` when this replay claimed the entry and sent its message. */
interface Replay {
  entry: Entry;
  sent: boolean;
}

/** Entries are named by origin queue and message id: a message that dies again is the same entry. */
const ENTRY_NAMESPACE = "3c0f4d7e-9a51-4b7e-8f0e-6d2a4c9b1e55";
const DEFAULT_PAGE_SIZE = 20;

/** The name of a caller inside the cluster that names no admin (a script on the broker, a test). */
const UNNAMED_ADMIN = "unnamed";

const STATUS_OF: Record<DeadLetterErrorCode | DlqJobErrorCode, 404 | 409> = {
  DEAD_LETTER_NOT_FOUND: 404,
  DEAD_LETTER_PURGED: 409,
  DEAD_LETTER_REPLAYED: 409,
  DEAD_LETTER_REPLAYING: 409,
  DEAD_LETTER_CONFLICT: 409,
  DLQ_JOB_NOT_FOUND: 404,
  DLQ_JOB_ENDED: 409,
  DLQ_JOB_EXISTS: 409,
};

const id = { type: "uuid" } as const;
const group = { type: "string", pattern: /^[0-9a-f]{12}$/, messages: { stringPattern: "The '{field}' field must be a group id: 12 hex digits." } } as const;
const filterParams = {
  originQueue: { ...typedText(200), optional: true },
  eventType: { ...typedText(200), optional: true },
  group: { ...group, optional: true },
} as const;
/** RFC 6902: members an operation does not define are ignored, so they are removed rather than refused. */
const patchOperation = {
  type: "object",
  strict: "remove",
  props: {
    op: { type: "enum", values: ["add", "remove", "replace", "move", "copy", "test"] },
    path: { type: "string", max: 1000 },
    from: { type: "string", max: 1000, optional: true },
    value: { type: "any", optional: true },
  },
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
    group: groupOf(message),
    edited: entry.edited !== null,
  };
}

/** A filter of the list as the columns of its table (adapters/read-model/dead-letters-view.ts). */
const columnsOf = (filter: DlqFilter) => ({ status: filter.status, origin_queue: filter.originQueue, event_type: filter.eventType, group_id: filter.group });

/** The filter a job records: only the fields given. */
const jobFilterOf = ({ originQueue, eventType, group }: DlqFilter): DlqJobFilter => ({
  ...(originQueue === undefined ? {} : { originQueue }),
  ...(eventType === undefined ? {} : { eventType }),
  ...(group === undefined ? {} : { group }),
});

/**
 * Drains the bus's dead letters into the event store (each is acked only once stored), and
 * lets an operator list them (grouped by cause too), inspect, edit, replay and purge them.
 * Entries are event-sourced (stream deadletter-<id>): a purge and an edit are kept as records,
 * and replaying twice sends the message once. Replaying or purging many is a job
 * (services/dlq/dlq-jobs.ts): it answers at once and survives the node that runs it.
 *
 * Concurrent operators (two replay jobs at once, a replay racing a purge or an edit, several
 * nodes) are settled by the entry's stream: a replay, a purge or an edit appends at the
 * revision it loaded, and only the one whose append succeeds goes on; the others are told 409
 * (or, within a job, skip the entry). A message is sent only by the replay that holds the claim.
 */
export function dlqService({
  eventStoreUrl,
  readModelUrl,
  bus,
  replayRate = DEFAULT_DLQ_REPLAY_RATE,
  clock = systemClock,
}: DlqServiceOptions): ServiceSchemaFor<DlqThis> {
  const readModels = readModelUrlFor(eventStoreUrl, readModelUrl);
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

      groups: {
        params: { $$strict: true },
        async handler(this: DlqThis): Promise<{ items: DeadLetterGroup[] }> {
          return { items: groupsOf(await this.matching({ status: "dead" })) };
        },
      },

      /** Fixes a dead message before it is replayed: an RFC 6902 patch of its payload, checked against its event type's schema. */
      edit: {
        params: {
          $$strict: true,
          id,
          patch: { type: "array", min: 1, max: 100, items: patchOperation },
          reason: typedText(500),
        },
        async handler(this: DlqThis, ctx: Context<{ id: string; patch: PatchOperation[]; reason: string }>): Promise<Entry> {
          const { id: entryId, patch, reason } = ctx.params;
          const now = clock.now().toISOString();
          const loaded = await this.entries.load(entryId);
          // Refused before the patch is looked at: the entry's state decides first (404, 409).
          const { message } = deadLetterDecider.editable(loaded.state, entryId);
          let payload: Record<string, unknown>;
          try {
            payload = patchedPayload(message.topic, message.payload, patch);
          } catch (error) {
            if (!(error instanceof PatchRefused)) throw error;
            throw new Errors.MoleculerClientError(error.message, 422, error.code, error.details);
          }
          const by = adminOf(ctx) ?? UNNAMED_ADMIN;
          const command: DeadLetterCommand = { type: "EditDeadLetter", data: { entryId, patch, payload, by, reason }, metadata: { now } };
          // At the revision loaded: an edit racing a replay or a purge is a 409, never sent half-applied.
          const edited = await this.appendDecided(entryId, command, loaded, eventMetadata(ctx, now));
          return edited ?? recorded(loaded.state, entryId);
        },
      },

      /** Starts a job that replays every dead letter that matches (202, its progress at the Location). */
      replayAll: {
        params: { $$strict: true, ...filterParams },
        async handler(this: DlqThis, ctx: Context<DlqFilter, GatewayMeta>): Promise<DlqJobView> {
          const filter = jobFilterOf(ctx.params);
          // Only dead entries and abandoned replays can be replayed: the others are not taken in.
          const [dead, replaying] = [await this.matching({ ...filter, status: "dead" }), await this.matching({ ...filter, status: "replaying" })];
          return this.startJob(
            ctx,
            "replay",
            filter,
            [...dead, ...replaying].filter((entry) => this.replayable(entry)),
            null,
          );
        },
      },

      /** Starts a job that purges every dead letter of a group, the reason kept with each. */
      purgeGroup: {
        params: { $$strict: true, group, reason: typedText(500) },
        async handler(this: DlqThis, ctx: Context<{ group: string; reason: string }, GatewayMeta>): Promise<DlqJobView> {
          const filter = { group: ctx.params.group };
          return this.startJob(ctx, "purge", filter, await this.matching({ ...filter, status: "dead" }), ctx.params.reason);
        },
      },

      jobs: {
        params: {
          $$strict: true,
          status: { type: "enum", values: ["running", "done", "cancelled", "failed"], optional: true },
          limit: { type: "number", integer: true, min: 1, max: 100, convert: true, optional: true },
          cursor: { type: "string", min: 1, max: 64, optional: true },
        },
        async handler(this: DlqThis, ctx: Context<{ status?: DlqJobStatus; limit?: number; cursor?: string }>) {
          const { status, limit = DEFAULT_PAGE_SIZE, cursor } = ctx.params;
          try {
            return await this.jobs.page(status, limit, cursor);
          } catch (error) {
            if (!(error instanceof InvalidCursor)) throw error;
            throw new Errors.ValidationError(error.message, "VALIDATION_ERROR", [{ type: "cursor", field: "cursor", message: error.message }]);
          }
        },
      },

      job: {
        params: { $$strict: true, id },
        handler(this: DlqThis, ctx: Context<{ id: string }>): Promise<DlqJobView> {
          return this.jobs.get(ctx.params.id);
        },
      },

      /** Stops a running job: entries it has not reached stay as they are. 409 once it has ended. */
      cancelJob: {
        params: { $$strict: true, id },
        handler(this: DlqThis, ctx: Context<{ id: string }>): Promise<DlqJobView> {
          return this.jobs.cancel(ctx.params.id, adminOf(ctx) ?? UNNAMED_ADMIN, eventMetadata(ctx, clock.now().toISOString()));
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
      async startJob(
        this: DlqThis,
        ctx: Context<unknown, GatewayMeta>,
        kind: DlqJobKind,
        filter: DlqJobFilter,
        entries: Entry[],
        reason: string | null,
      ): Promise<DlqJobView> {
        const request = { kind, filter, entryIds: entries.map((entry) => entry.id), by: adminOf(ctx) ?? UNNAMED_ADMIN, reason, rate: replayRate };
        const job = await this.jobs.begin(request, eventMetadata(ctx, clock.now().toISOString()));
        // Accepted: it goes on in the background; its progress is at the Location.
        ctx.meta.$statusCode = 202;
        ctx.meta.$responseHeaders = { ...ctx.meta.$responseHeaders, Location: `/api/dlq/jobs/${job.id}` };
        return job;
      },

      /**
       * One entry of a job: replayed (claim, send, complete) or purged; skipped when another
       * operation had it, unless that was this job itself before its node died (between a
       * batch and the record of its progress): its events carry the job's id.
       */
      async runJobEntry(this: DlqThis, job: StartedJob, entryId: string, metadata: (now: string) => EventMetadata): Promise<EntryOutcome> {
        const now = clock.now().toISOString();
        try {
          if (job.kind === "replay" && (await this.replayEntry(entryId, metadata)).sent) return "done";
          if (job.kind === "purge") {
            const purge: DeadLetterCommand = { type: "PurgeDeadLetter", data: { entryId, reason: job.reason ?? "" }, metadata: { now } };
            if (await this.appendDecided(entryId, purge, await this.entries.load(entryId), metadata(now))) return "done";
          }
        } catch (error) {
          // Replayed, purged or claimed by another operation since the job listed it.
          if (!(error instanceof DomainError)) throw error;
        }
        const ending = job.kind === "replay" ? "DeadLetterReplayed" : "DeadLetterPurged";
        const last = (await this.entries.load(entryId)).events.filter((event) => event.type === ending).pop();
        return last?.metadata.correlationId === job.id ? "done" : "skipped";
      },

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
      this.jobs = new DlqJobs({
        store: this.eventStore,
        readModels: acquireReadModelStore(readModels),
        work: (job, entryId, metadata) => this.runJobEntry(job, entryId, metadata),
        progressed: () => this.reportDepth(),
        clock,
        logger: this.logger,
        projectionLogger: this.broker.getLogger("projection"),
      });
    },

    async started() {
      await this.reportDepth();
      this.drain = await this.bus.consumeDeadLetters((deadLetter: DeadLetter) => this.store(deadLetter));
      // In a cluster, other nodes' claims are judged by the registry, which needs the
      // heartbeat timeout to learn who is there after a start; alone, there is nobody to wait for.
      const settleMs = this.broker.transit ? (this.broker.options.heartbeatTimeout ?? 15) * 1000 : 0;
      if (settleMs === 0) this.recover();
      else this.recoveryTimer = setTimeout(() => this.recover(), settleMs).unref();
      await this.jobs.start();
    },

    async stopped() {
      clearTimeout(this.recoveryTimer);
      // Each run records its progress and gives its job up, for another node to resume.
      await this.jobs.stop();
      await this.drain?.stop();
      await this.recovery;
      await releaseReadModelStore(readModels);
    },
  };
}

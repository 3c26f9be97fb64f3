import { Context, Errors, Service, ServiceSchema } from "moleculer";
import { EventStore, acquireEventStore, releaseEventStore } from "../adapters/event-store";
import { ReadModelStore, ViewDefinition, acquireReadModelStore, readModelUrlFor, releaseReadModelStore } from "../adapters/read-model";
import { ProjectionName } from "../adapters/read-model/catalog";
import { Projection, ProjectionReport, RebuildRunning } from "../adapters/read-model/projection";

export interface ProjectionMixinOptions<State> {
  /** The name routes and the REPL use. */
  name: ProjectionName;
  definition: ViewDefinition<State>;
  /** EVENT_STORE_URL: the log the projection folds. */
  eventStoreUrl: string;
  /** READ_MODEL_URL: where its table lives; chosen from EVENT_STORE_URL when unset. */
  readModelUrl?: string;
  /** The slow poll behind the store's append signal. */
  followMs?: number;
}

export type WithProjection<State> = Service & { projection: Projection<State> };

/** What moleculer-web reads from the context's meta to shape the answer. */
interface GatewayMeta {
  $statusCode?: number;
  $responseHeaders?: Record<string, string>;
}

const FOLLOW_MS = 2000;

/**
 * Gives a service `this.projection`, one read model kept in the read-model database that
 * READ_MODEL_URL (or EVENT_STORE_URL) names: opened and caught up from its checkpoint when the
 * service starts, followed while it runs. Adds two actions for operators:
 * `projection` (GET /api/projections/<name>) and `rebuildProjection` (POST .../rebuild).
 * Throws at wiring time when the event store has no read-model database (kurrentdb:// without
 * READ_MODEL_URL): the node must not start without its lists.
 */
export function ProjectionMixin<State>({
  name,
  definition,
  eventStoreUrl,
  readModelUrl,
  followMs = FOLLOW_MS,
}: ProjectionMixinOptions<State>): Partial<ServiceSchema> {
  const url = readModelUrlFor(eventStoreUrl, readModelUrl);
  // What this mixin keeps on the service (Moleculer types a mixin's `this` as the plain Service, whose own fields are any).
  type Self = WithProjection<State> & { projectionLog: EventStore; readModels: ReadModelStore };
  return {
    actions: {
      projection: {
        params: { $$strict: true },
        handler(): Promise<ProjectionReport> {
          return (this as Self).projection.report();
        },
      },
      rebuildProjection: {
        params: { $$strict: true },
        async handler(ctx: Context<unknown, GatewayMeta>): Promise<ProjectionReport> {
          try {
            const report = await (this as Self).projection.rebuild(`${this.broker.nodeID}/${this.broker.instanceID}`);
            // Accepted: it goes on in the background; its progress is at the Location.
            ctx.meta.$statusCode = 202;
            ctx.meta.$responseHeaders = { ...ctx.meta.$responseHeaders, Location: `/api/projections/${name}` };
            return report;
          } catch (error) {
            if (!(error instanceof RebuildRunning)) throw error;
            throw new Errors.MoleculerClientError(error.message, 409, "PROJECTION_REBUILD_RUNNING", { projection: name });
          }
        },
      },
    },
    created() {
      this.projectionLog = acquireEventStore(eventStoreUrl);
      this.readModels = acquireReadModelStore(url);
    },
    async started() {
      const self = this as Self;
      const logger = this.broker.getLogger("projection");
      this.projection = await Projection.open(name, self.projectionLog, self.readModels, definition, { followMs, logger });
    },
    async stopped() {
      // Unset when the service stops before it has started.
      await (this as Partial<Self>).projection?.stop();
      await releaseReadModelStore(url);
      await releaseEventStore(eventStoreUrl);
    },
  };
}

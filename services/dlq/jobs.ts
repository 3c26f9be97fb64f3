import type { ViewDefinition } from "../../adapters/read-model";
import * as jobDecider from "../../domain/dlq-job";
import { DlqJob, DlqJobEvent, DlqJobFilter, DlqJobKind, DlqJobStatus } from "../../domain/dlq-job";

export type StartedJob = Exclude<DlqJob, { status: "none" }>;

/** A job as the routes answer it (GET /api/dlq/jobs/:id): its progress, and who started it. */
export interface DlqJobView {
  id: string;
  kind: DlqJobKind;
  status: DlqJobStatus;
  filter: DlqJobFilter;
  /** Entries the job took in when it started. */
  total: number;
  /** Entries it sent back to their queue (a replay job). */
  replayed: number;
  /** Entries it purged (a purge job). */
  purged: number;
  /** Entries another operation had replayed, purged or claimed before the job reached them. */
  skipped: number;
  /** Entries whose send failed: dead again, for a later replay. */
  failed: number;
  startedAt: string;
  endedAt: string | null;
  by: string;
  /** Entries per second at most (DLQ_REPLAY_RATE when it started); 0: as fast as they go. */
  rate: number;
  /** Why, for a purge. */
  reason: string | null;
  cancelledBy: string | null;
  /** Why it failed. */
  error: string | null;
}

export function jobView(job: StartedJob): DlqJobView {
  return {
    id: job.id,
    kind: job.kind,
    status: job.status,
    filter: job.filter,
    total: job.total,
    replayed: job.kind === "replay" ? job.done : 0,
    purged: job.kind === "purge" ? job.done : 0,
    skipped: job.skipped,
    failed: job.failed,
    startedAt: job.startedAt,
    endedAt: job.endedAt,
    by: job.by,
    rate: job.rate,
    reason: job.reason,
    cancelledBy: job.cancelledBy,
    error: job.error,
  };
}

/** The list of jobs (GET /api/dlq/jobs), newest first, and the running ones that a node looks for to run. */
export const DLQ_JOBS_VIEW: ViewDefinition<DlqJob> = {
  name: "dlq_jobs",
  streamPrefix: "dlqjob",
  initialState: jobDecider.initialState,
  evolve: (job, event) => jobDecider.evolve(job, event as DlqJobEvent),
  exists: (job) => job.status !== "none",
  columns: ["status", "kind"],
  columnsOf: (job) => (job.status === "none" ? { status: null, kind: null } : { status: job.status, kind: job.kind }),
  countedBy: "status",
};

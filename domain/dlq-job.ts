import { DomainError } from "./errors";

/**
 * The decider of one bulk operation on the DLQ (stream dlqjob-<id>): replaying, or purging,
 * every dead letter that matched a filter when it started. It is a job, not a request: it
 * answers at once and goes on in the background, run by one node at a time, and a node that
 * stops or dies leaves it to another, which resumes it where its progress was recorded.
 *
 * The entries are the ones listed when the job started (DlqJobEntriesListed, in chunks), so a
 * message that dies again after the job replayed it, or a new one, is not taken in: the job
 * ends. Progress is recorded in batches (DlqJobProgressed, from the index it continues), so a
 * node that takes the job over starts at the first entry of the first batch not recorded; an
 * entry's own claim makes sure that one already replayed is not sent again.
 */

export type DlqJobKind = "replay" | "purge";
export type DlqJobStatus = "running" | "done" | "cancelled" | "failed";

/** The list filters a job took its entries by (every field optional: all dead letters). */
export interface DlqJobFilter {
  originQueue?: string;
  eventType?: string;
  group?: string;
}

/** What happened to the entries of one batch: done (replayed or purged), skipped (another operation had it), failed (the send failed). */
export interface BatchOutcome {
  done: number;
  skipped: number;
  failed: number;
}

export type DlqJobCommand =
  | {
      type: "StartDlqJob";
      data: {
        jobId: string;
        kind: DlqJobKind;
        filter: DlqJobFilter;
        entryIds: string[];
        by: string;
        /** Why, for a purge (kept with each entry it purges); null for a replay. */
        reason: string | null;
        /** Entries per second at most; 0: as fast as they go. */
        rate: number;
      };
      metadata: { now: string };
    }
  | { type: "RecordDlqJobProgress"; data: { jobId: string; from: number } & BatchOutcome; metadata: { now: string } }
  | { type: "FinishDlqJob"; data: { jobId: string }; metadata: { now: string } }
  | { type: "FailDlqJob"; data: { jobId: string; error: string }; metadata: { now: string } }
  | { type: "CancelDlqJob"; data: { jobId: string; by: string }; metadata: { now: string } };

export type DlqJobEvent =
  | {
      type: "DlqJobStarted";
      data: { jobId: string; kind: DlqJobKind; filter: DlqJobFilter; total: number; by: string; reason: string | null; rate: number; at: string };
    }
  /** Entries `from` to `from + entryIds.length - 1` of the job, in the order it takes them. */
  | { type: "DlqJobEntriesListed"; data: { jobId: string; from: number; entryIds: string[] } }
  /** The batch of entries `from` to `from + done + skipped + failed - 1`. */
  | { type: "DlqJobProgressed"; data: { jobId: string; from: number; at: string } & BatchOutcome }
  | { type: "DlqJobCancelled"; data: { jobId: string; by: string; at: string } }
  | { type: "DlqJobEnded"; data: { jobId: string; status: "done" | "failed"; error: string | null; at: string } };

export type DlqJob =
  | { status: "none" }
  | {
      status: DlqJobStatus;
      id: string;
      kind: DlqJobKind;
      filter: DlqJobFilter;
      total: number;
      /** Entries taken so far: the index of the next one. */
      processed: number;
      done: number;
      skipped: number;
      failed: number;
      by: string;
      reason: string | null;
      rate: number;
      startedAt: string;
      endedAt: string | null;
      cancelledBy: string | null;
      error: string | null;
    };

export type DlqJobErrorCode = "DLQ_JOB_NOT_FOUND" | "DLQ_JOB_ENDED" | "DLQ_JOB_EXISTS";

/** Entries per event of the list: ~36 KB of ids, far below what any store takes in one event. */
export const ENTRIES_PER_LIST_EVENT = 1000;

export function initialState(): DlqJob {
  return { status: "none" };
}

export function decide(command: DlqJobCommand, state: DlqJob): DlqJobEvent[] {
  const at = command.metadata.now;
  switch (command.type) {
    case "StartDlqJob": {
      const { jobId, kind, filter, entryIds, by, reason, rate } = command.data;
      if (state.status !== "none") throw new DomainError<DlqJobErrorCode>("DLQ_JOB_EXISTS", `job ${jobId} exists already`);
      const lists: DlqJobEvent[] = [];
      for (let from = 0; from < entryIds.length; from += ENTRIES_PER_LIST_EVENT) {
        lists.push({ type: "DlqJobEntriesListed", data: { jobId, from, entryIds: entryIds.slice(from, from + ENTRIES_PER_LIST_EVENT) } });
      }
      return [{ type: "DlqJobStarted", data: { jobId, kind, filter, total: entryIds.length, by, reason, rate, at } }, ...lists];
    }
    case "RecordDlqJobProgress": {
      const { jobId, from, done, skipped, failed } = command.data;
      const job = existing(state, jobId);
      // A batch recorded already (its runner lost the job meanwhile), or one that is not next: the counts stay exact.
      if (from !== job.processed || done + skipped + failed === 0 || job.processed + done + skipped + failed > job.total) return [];
      // A cancelled job still records what its runner did before it saw the cancel: those entries were sent.
      if (job.status === "done" || job.status === "failed") return [];
      return [{ type: "DlqJobProgressed", data: { jobId, from, done, skipped, failed, at } }];
    }
    case "FinishDlqJob": {
      const job = existing(state, command.data.jobId);
      if (job.status !== "running" || job.processed < job.total) return [];
      return [{ type: "DlqJobEnded", data: { jobId: job.id, status: "done", error: null, at } }];
    }
    case "FailDlqJob": {
      const job = existing(state, command.data.jobId);
      if (job.status !== "running") return [];
      return [{ type: "DlqJobEnded", data: { jobId: job.id, status: "failed", error: command.data.error, at } }];
    }
    case "CancelDlqJob": {
      const job = existing(state, command.data.jobId);
      if (job.status !== "running") throw new DomainError<DlqJobErrorCode>("DLQ_JOB_ENDED", `job ${job.id} has ended: ${job.status}`, { status: job.status });
      return [{ type: "DlqJobCancelled", data: { jobId: job.id, by: command.data.by, at } }];
    }
    default: {
      const unknown: never = command;
      throw new Error(`unknown command ${JSON.stringify(unknown)}`);
    }
  }
}

export function evolve(state: DlqJob, event: DlqJobEvent): DlqJob {
  switch (event.type) {
    case "DlqJobStarted": {
      const { jobId, at, ...started } = event.data;
      return {
        status: "running",
        id: jobId,
        ...started,
        processed: 0,
        done: 0,
        skipped: 0,
        failed: 0,
        startedAt: at,
        endedAt: null,
        cancelledBy: null,
        error: null,
      };
    }
    // The list is the runner's to read from the stream; the state keeps only the counts.
    case "DlqJobEntriesListed":
      return state;
    case "DlqJobProgressed": {
      if (state.status === "none") return state;
      const { done, skipped, failed } = event.data;
      return {
        ...state,
        processed: state.processed + done + skipped + failed,
        done: state.done + done,
        skipped: state.skipped + skipped,
        failed: state.failed + failed,
      };
    }
    case "DlqJobCancelled":
      return state.status === "none" ? state : { ...state, status: "cancelled", endedAt: event.data.at, cancelledBy: event.data.by };
    case "DlqJobEnded":
      return state.status === "none" ? state : { ...state, status: event.data.status, endedAt: event.data.at, error: event.data.error };
    default: {
      const unknown: never = event;
      throw new Error(`unknown event ${JSON.stringify(unknown)}`);
    }
  }
}

function existing(state: DlqJob, jobId: string): Exclude<DlqJob, { status: "none" }> {
  if (state.status === "none") throw new DomainError<DlqJobErrorCode>("DLQ_JOB_NOT_FOUND", `job ${jobId} not found`);
  return state;
}

import type { Logger } from "moleculer";
import type { EventMetadata, EventStore, Lease, RecordedEvent } from "../../adapters/event-store";
import type { AggregateRepository } from "../../adapters/event-store/aggregate-repository";
import type { Clock } from "../../adapters/clock";
import { BatchOutcome, DlqJob, DlqJobCommand, DlqJobEvent } from "../../domain/dlq-job";
import type { StartedJob } from "./jobs";

/** What a job did with one entry: done (replayed or purged) or skipped (another operation had it). A failure throws. */
export type EntryOutcome = "done" | "skipped";

export interface JobRunnerOptions {
  store: EventStore;
  jobs: AggregateRepository<DlqJobCommand, DlqJobEvent, DlqJob>;
  /** Replays or purges one entry of the job, its events recorded with `metadata`. */
  work(job: StartedJob, entryId: string, metadata: (now: string) => EventMetadata): Promise<EntryOutcome>;
  /** After each recorded batch (the DLQ depth moved). */
  progressed(): Promise<unknown>;
  clock: Clock;
  logger: Logger;
}

/**
 * How long a node that died keeps its jobs (at most; PostgreSQL frees a lease when its
 * session ends): a stopping node gives its lease up at once, and another resumes the job at
 * its next look for jobs to run (every 2 s, services/dlq/dlq-jobs.ts).
 */
const LEASE_TTL_MS = 5000;
/** Progress is recorded after this many entries or this long, whichever comes first: what a crash makes a node take again. */
const BATCH_ENTRIES = 100;
const RECORD_EVERY_MS = 500;
/** Failed sends in a row after which the cause is not the entries (the bus is down): the job fails, the rest stays dead. */
const FAILURES_IN_A_ROW = 10;

interface Run {
  stopping: boolean;
  /** Ends a wait between two entries at once. */
  wake(): void;
  done: Promise<void>;
}

/**
 * Runs DLQ jobs on this node: each one while this node holds its event-store lease
 * (`dlq-job-<id>`), so one node at a time runs a job, and a node that stops gives it up for
 * another (or itself, restarted) to resume from the progress last recorded. Entries are taken
 * at the job's rate at most, paced evenly rather than in bursts.
 */
export class JobRunner {
  private readonly runs = new Map<string, Run>();
  private stopped = false;

  constructor(private readonly options: JobRunnerOptions) {}

  /** Runs the job here unless it runs here already or another node holds it; answers at once. */
  async tryRun(jobId: string): Promise<void> {
    if (this.stopped || this.runs.has(jobId)) return;
    const lease = await this.options.store.tryAcquireLease(`dlq-job-${jobId}`, LEASE_TTL_MS);
    if (!lease) return;
    // Checked again: a stop or a second tryRun may have come while the lease was asked for.
    if (this.stopped || this.runs.has(jobId)) {
      await lease.release();
      return;
    }
    let wake = () => {};
    const run: Run = { stopping: false, wake: () => wake(), done: Promise.resolve() };
    const waker = new Promise<void>((resolve) => (wake = resolve));
    lease.lost.addEventListener("abort", () => run.wake(), { once: true });
    run.done = this.run(jobId, lease, run, waker)
      .catch((error: unknown) => this.options.logger.warn(`DLQ job ${jobId}: stopped on this node, to be resumed: ${String(error)}`))
      .finally(async () => {
        this.runs.delete(jobId);
        await lease.release().catch(() => undefined);
      });
    this.runs.set(jobId, run);
  }

  /** Stops the local run of a job (cancelled): it records what it did and ends. */
  interrupt(jobId: string): void {
    const run = this.runs.get(jobId);
    if (!run) return;
    run.stopping = true;
    run.wake();
  }

  /** Ends every run of this node after its current entry, each recording its progress, and gives their leases up. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const jobId of this.runs.keys()) this.interrupt(jobId);
    await Promise.all([...this.runs.values()].map((run) => run.done));
  }

  private async run(jobId: string, lease: Lease, run: Run, waker: Promise<void>): Promise<void> {
    const { jobs, clock, logger } = this.options;
    const loaded = await jobs.load(jobId);
    if (loaded.state.status !== "running") return;
    let job: StartedJob = loaded.state;
    const entries = entriesOf(loaded.events);
    const metadata = (now: string): EventMetadata => ({ correlationId: jobId, causationId: jobId, occurredAt: now, actor: job.by });
    logger.info(`DLQ job ${jobId}: ${job.kind} of ${job.total} entries, from entry ${job.processed}, at ${job.rate || "any"} per second`);

    const interval = job.rate > 0 ? 1000 / job.rate : 0;
    let due = performance.now();
    let batch = { from: job.processed, done: 0, skipped: 0, failed: 0 };
    let recordedAt = performance.now();
    let failuresInARow = 0;
    /**
     * Records the batch; undefined when the job is not this run's any more: the decider
     * ignored the batch (another node, which took the lease when this one lost it, recorded
     * from there first; or the job ended), or the lease is lost. The entries of a batch not
     * recorded are taken again by the job's next run, which finds them done by this job.
     */
    const record = async (): Promise<StartedJob | undefined> => {
      if (lease.lost.aborted) return undefined;
      if (count(batch) === 0) return job;
      const { from, ...outcome } = batch;
      const command: DlqJobCommand = { type: "RecordDlqJobProgress", data: { jobId, from, ...outcome }, metadata: { now: clock.now().toISOString() } };
      const handled = await jobs.handle(jobId, command, metadata(command.metadata.now));
      if (handled.events.length === 0 || handled.state.status === "none") return undefined;
      batch = { from: from + count(outcome), done: 0, skipped: 0, failed: 0 };
      recordedAt = performance.now();
      await this.options.progressed();
      return handled.state;
    };

    for (let index = job.processed; index < entries.length; index += 1) {
      const wait = due - performance.now();
      if (wait >= 1) await Promise.race([waker, new Promise((resolve) => setTimeout(resolve, wait))]);
      if (run.stopping || lease.lost.aborted) break;
      try {
        const outcome = await this.options.work(job, entries[index]!, metadata);
        batch[outcome] += 1;
        failuresInARow = 0;
      } catch (error) {
        batch.failed += 1;
        failuresInARow += 1;
        logger.warn(`DLQ job ${jobId}: entry ${entries[index]} failed: ${String(error)}`);
        if (failuresInARow >= FAILURES_IN_A_ROW) {
          if (!(await record())) return;
          const now = clock.now().toISOString();
          const reason = `${FAILURES_IN_A_ROW} entries in a row failed, the last one: ${error instanceof Error ? error.message : String(error)}`;
          await jobs.handle(jobId, { type: "FailDlqJob", data: { jobId, error: reason }, metadata: { now } }, metadata(now));
          logger.error(`DLQ job ${jobId}: failed: ${reason}`);
          return;
        }
      }
      // After a pause (a slow entry, a wait for the store) the pace resumes: no burst to catch up.
      due = Math.max(due + interval, performance.now());
      if (count(batch) >= BATCH_ENTRIES || performance.now() - recordedAt >= RECORD_EVERY_MS) {
        const recorded = await record();
        if (!recorded) return;
        job = recorded;
        if (job.status !== "running") break;
      }
    }
    const recorded = await record();
    if (!recorded) return;
    job = recorded;
    if (job.status === "running" && job.processed >= job.total) {
      const now = clock.now().toISOString();
      await jobs.handle(jobId, { type: "FinishDlqJob", data: { jobId }, metadata: { now } }, metadata(now));
      logger.info(`DLQ job ${jobId}: done: ${job.done} ${job.kind === "replay" ? "replayed" : "purged"}, ${job.skipped} skipped, ${job.failed} failed`);
    } else if (job.status === "cancelled") {
      logger.info(`DLQ job ${jobId}: cancelled by ${job.cancelledBy} after ${job.processed} of ${job.total} entries`);
    }
  }
}

const count = (outcome: BatchOutcome) => outcome.done + outcome.skipped + outcome.failed;

/** The entries a job lists in its stream, in order (DlqJobEntriesListed, as the decider wrote them). */
function entriesOf(events: readonly RecordedEvent[]): string[] {
  const entries: string[] = [];
  for (const { type, data } of events) {
    const { entryIds } = data;
    if (type === "DlqJobEntriesListed" && Array.isArray(entryIds)) entries.push(...entryIds.filter((id) => typeof id === "string"));
  }
  return entries;
}

import { randomUUID } from "node:crypto";
import type { Logger } from "moleculer";
import type { EventMetadata, EventStore } from "../../adapters/event-store";
import { AggregateRepository } from "../../adapters/event-store/aggregate-repository";
import type { ReadModelStore } from "../../adapters/read-model";
import { ListPage, Projection, ProjectionLogger } from "../../adapters/read-model/projection";
import type { Clock } from "../../adapters/clock";
import { DomainError } from "../../domain/errors";
import * as jobDecider from "../../domain/dlq-job";
import { DlqJob, DlqJobCommand, DlqJobErrorCode, DlqJobEvent, DlqJobStatus } from "../../domain/dlq-job";
import { DLQ_JOBS_VIEW, DlqJobView, StartedJob, jobView } from "./jobs";
import { EntryOutcome, JobRunner } from "./job-runner";

export interface DlqJobsOptions {
  store: EventStore;
  /** Where the list of jobs lives (the DLQ list's database). */
  readModels: ReadModelStore;
  /** Replays or purges one entry of a job (see JobRunnerOptions.work). */
  work(job: StartedJob, entryId: string, metadata: (now: string) => EventMetadata): Promise<EntryOutcome>;
  /** After each batch a job records. */
  progressed(): Promise<unknown>;
  clock: Clock;
  logger: Logger;
  projectionLogger: ProjectionLogger;
}

/** What starts a job: what it does, to which entries (oldest first), for whom and why; its id is chosen here. */
export type JobRequest = Omit<Extract<DlqJobCommand, { type: "StartDlqJob" }>["data"], "jobId">;

/** A node looks this often for running jobs that no node runs (their node stopped or died). */
const JOB_SCAN_MS = 2000;

/**
 * The DLQ's jobs on this node: each an aggregate (stream dlqjob-<id>), listed in a read model
 * (`dlq_jobs`, on every node), and run by the node that holds its lease. A node runs the jobs
 * it starts at once, and looks every JOB_SCAN_MS for running ones that no node runs any more.
 */
export class DlqJobs {
  private readonly jobs: AggregateRepository<DlqJobCommand, DlqJobEvent, DlqJob>;
  private readonly runner: JobRunner;
  private list: Projection<DlqJob> | undefined;
  private scan: NodeJS.Timeout | undefined;

  constructor(private readonly options: DlqJobsOptions) {
    this.jobs = new AggregateRepository(options.store, jobDecider, "dlqjob");
    this.runner = new JobRunner({ ...options, jobs: this.jobs });
  }

  async start(): Promise<void> {
    this.list = await Projection.open("dlq-jobs", this.options.store, this.options.readModels, DLQ_JOBS_VIEW, {
      followMs: JOB_SCAN_MS,
      logger: this.options.projectionLogger,
    });
    const resume = () =>
      void this.resume().catch((error: unknown) => this.options.logger.warn(`DLQ jobs: looking for jobs to resume failed: ${String(error)}`));
    this.scan = setInterval(resume, JOB_SCAN_MS).unref();
    resume();
  }

  /** Ends the runs of this node, each recording its progress and giving its job up for another node. */
  async stop(): Promise<void> {
    clearInterval(this.scan);
    await this.runner.stop();
    await this.list?.stop();
  }

  /** Records a new job and runs it here, in the background: answers at once. */
  async begin(request: JobRequest, metadata: EventMetadata): Promise<DlqJobView> {
    const jobId = randomUUID();
    const command: DlqJobCommand = { type: "StartDlqJob", data: { jobId, ...request }, metadata: { now: metadata.occurredAt } };
    const { state } = await this.jobs.handle(jobId, command, metadata);
    void this.runner.tryRun(jobId).catch((error: unknown) => this.options.logger.warn(`DLQ job ${jobId}: not started here: ${String(error)}`));
    return jobView(recorded(state, jobId));
  }

  async get(jobId: string): Promise<DlqJobView> {
    return jobView(recorded((await this.jobs.load(jobId)).state, jobId));
  }

  /**
   * A page of the jobs, newest first.
   * @throws InvalidCursor for a cursor this list did not give.
   */
  async page(status: DlqJobStatus | undefined, limit: number, cursor: string | undefined): Promise<ListPage<DlqJobView>> {
    const page = await this.listed().list({ status }, limit, cursor);
    return { items: page.items.flatMap((job) => (job.status === "none" ? [] : [jobView(job)])), nextCursor: page.nextCursor };
  }

  /** Stops a running job; its runner, here or on another node, records what it did and ends. */
  async cancel(jobId: string, by: string, metadata: EventMetadata): Promise<DlqJobView> {
    const command: DlqJobCommand = { type: "CancelDlqJob", data: { jobId, by }, metadata: { now: metadata.occurredAt } };
    const { state } = await this.jobs.handle(jobId, command, metadata);
    // Run here: it stops at once; elsewhere, its runner sees the cancel when it next records its progress.
    this.runner.interrupt(jobId);
    return jobView(recorded(state, jobId));
  }

  /** Runs here the running jobs that no node runs (each while this node holds its lease). */
  private async resume(): Promise<void> {
    for (const job of await this.listed().all({ status: "running" })) if (job.status !== "none") await this.runner.tryRun(job.id);
  }

  private listed(): Projection<DlqJob> {
    if (!this.list) throw new Error("the DLQ's jobs are not started yet");
    return this.list;
  }
}

function recorded(job: DlqJob, jobId: string): StartedJob {
  if (job.status === "none") throw new DomainError<DlqJobErrorCode>("DLQ_JOB_NOT_FOUND", `job ${jobId} not found`);
  return job;
}

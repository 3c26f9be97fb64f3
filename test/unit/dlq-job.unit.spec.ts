import * as dlqJob from "../../domain/dlq-job";
import { DlqJobCommand, DlqJobEvent, ENTRIES_PER_LIST_EVENT } from "../../domain/dlq-job";
import { specify } from "../support/decider-spec";

const jobId = "7a1c2e3d-4b5f-4a6b-8c7d-9e0f1a2b3c4d";
const at = "2026-12-06T08:00:00.000Z";
const later = "2026-12-06T08:00:05.000Z";
const entryIds = ["e-1", "e-2", "e-3"];
const spec = specify(dlqJob);

const start = (ids = entryIds): DlqJobCommand => ({
  type: "StartDlqJob",
  data: { jobId, kind: "replay", filter: { group: "0123456789ab" }, entryIds: ids, by: "alice", reason: null, rate: 100 },
  metadata: { now: at },
});
const started: DlqJobEvent = {
  type: "DlqJobStarted",
  data: { jobId, kind: "replay", filter: { group: "0123456789ab" }, total: 3, by: "alice", reason: null, rate: 100, at },
};
const listed: DlqJobEvent = { type: "DlqJobEntriesListed", data: { jobId, from: 0, entryIds } };
const progress = (from: number, done: number, skipped = 0, failed = 0): DlqJobCommand => ({
  type: "RecordDlqJobProgress",
  data: { jobId, from, done, skipped, failed },
  metadata: { now: later },
});
const progressed = (from: number, done: number, skipped = 0, failed = 0): DlqJobEvent => ({
  type: "DlqJobProgressed",
  data: { jobId, from, done, skipped, failed, at: later },
});
const finish: DlqJobCommand = { type: "FinishDlqJob", data: { jobId }, metadata: { now: later } };
const cancel: DlqJobCommand = { type: "CancelDlqJob", data: { jobId, by: "bob" }, metadata: { now: later } };
const cancelled: DlqJobEvent = { type: "DlqJobCancelled", data: { jobId, by: "bob", at: later } };
const ended: DlqJobEvent = { type: "DlqJobEnded", data: { jobId, status: "done", error: null, at: later } };

describe("DLQ job decider", () => {
  it("starts with the entries it takes, listed in chunks of the stream", () => {
    spec.given([]).when(start()).then([started, listed]);
    const many = Array.from({ length: ENTRIES_PER_LIST_EVENT + 1 }, (_, index) => `e-${index}`);
    spec
      .given([])
      .when(start(many))
      .then([
        { ...started, data: { ...started.data, total: many.length } },
        { type: "DlqJobEntriesListed", data: { jobId, from: 0, entryIds: many.slice(0, ENTRIES_PER_LIST_EVENT) } },
        { type: "DlqJobEntriesListed", data: { jobId, from: ENTRIES_PER_LIST_EVENT, entryIds: many.slice(ENTRIES_PER_LIST_EVENT) } },
      ]);
    spec.given([started, listed]).when(start()).thenThrows("DLQ_JOB_EXISTS");
  });

  it("records a batch from where the last one ended, and counts it", () => {
    spec
      .given([started, listed])
      .when(progress(0, 1, 1))
      .then([progressed(0, 1, 1)]);
    spec.given([started, listed, progressed(0, 1, 1)]).thenState({
      status: "running",
      id: jobId,
      kind: "replay",
      filter: { group: "0123456789ab" },
      total: 3,
      processed: 2,
      done: 1,
      skipped: 1,
      failed: 0,
      by: "alice",
      reason: null,
      rate: 100,
      startedAt: at,
      endedAt: null,
      cancelledBy: null,
      error: null,
    });
  });

  it("ignores a batch recorded already, one that is not next, an empty one and one past the end: the counts stay exact", () => {
    spec
      .given([started, listed, progressed(0, 2)])
      .when(progress(0, 2))
      .then([]);
    spec.given([started, listed]).when(progress(1, 1)).then([]);
    spec.given([started, listed]).when(progress(0, 0)).then([]);
    spec.given([started, listed]).when(progress(0, 4)).then([]);
  });

  it("ends done once every entry is recorded, not before", () => {
    spec
      .given([started, listed, progressed(0, 2)])
      .when(finish)
      .then([]);
    spec
      .given([started, listed, progressed(0, 2, 0, 1)])
      .when(finish)
      .then([ended]);
    spec
      .given([started, listed, progressed(0, 3), ended])
      .when(finish)
      .then([]);
  });

  it("is cancelled by an operator while it runs, and keeps the progress its runner records after", () => {
    spec.given([started, listed]).when(cancel).then([cancelled]);
    spec
      .given([started, listed, cancelled])
      .when(progress(0, 1))
      .then([progressed(0, 1)]);
    spec.given([started, listed, cancelled]).when(finish).then([]);
    spec.given([started, listed, cancelled]).thenState(expect.objectContaining({ status: "cancelled", endedAt: later, cancelledBy: "bob" }));
  });

  it("refuses to cancel a job that has ended", () => {
    spec.given([started, listed, cancelled]).when(cancel).thenThrows("DLQ_JOB_ENDED", { status: "cancelled" });
    spec
      .given([started, listed, progressed(0, 3), ended])
      .when(cancel)
      .thenThrows("DLQ_JOB_ENDED", { status: "done" });
    spec.given([]).when(cancel).thenThrows("DLQ_JOB_NOT_FOUND");
  });

  it("fails with the reason while it runs; a failed job records nothing more", () => {
    const fail: DlqJobCommand = { type: "FailDlqJob", data: { jobId, error: "the bus is down" }, metadata: { now: later } };
    const failed: DlqJobEvent = { type: "DlqJobEnded", data: { jobId, status: "failed", error: "the bus is down", at: later } };
    spec.given([started, listed]).when(fail).then([failed]);
    spec.given([started, listed, failed]).when(progress(0, 1)).then([]);
    spec.given([started, listed, failed]).when(fail).then([]);
  });
});

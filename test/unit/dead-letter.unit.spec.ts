import * as deadLetter from "../../domain/dead-letter";
import { DeadLetterCommand, DeadLetterEvent, DeadMessage } from "../../domain/dead-letter";
import { specify } from "../support/decider-spec";

const entryId = "0d7c9a5e-8d4b-5f1a-9b2c-3e4f5a6b7c8d";
const at = "2026-11-29T10:00:00.000Z";
const message: DeadMessage = {
  messageId: "m-1",
  topic: "OrderCreated",
  payload: { data: { orderId: "o-1" } },
  headers: { correlationId: "c-1" },
  originQueue: "orchestrator",
  error: { name: "MoleculerRetryableError", message: "chaos", stack: "at x" },
  attempts: 5,
  firstFailureAt: "2026-11-29T09:59:00.000Z",
  lastFailureAt: "2026-11-29T09:59:30.000Z",
};
const spec = specify(deadLetter);
const record = (lastFailureAt = message.lastFailureAt): DeadLetterCommand => ({
  type: "RecordDeadLetter",
  data: { entryId, message: { ...message, lastFailureAt } },
  metadata: { now: at },
});
const claimant = { nodeID: "node-1", instanceID: "instance-1" };
const replay = (claimId = "claim-1", takeOver?: string): DeadLetterCommand => ({
  type: "ReplayDeadLetter",
  data: { entryId, claimId, ...claimant, ...(takeOver ? { takeOver } : {}) },
  metadata: { now: at },
});
const complete = (claimId = "claim-1"): DeadLetterCommand => ({ type: "CompleteReplay", data: { entryId, claimId }, metadata: { now: at } });
const release = (claimId = "claim-1"): DeadLetterCommand => ({
  type: "ReleaseReplay",
  data: { entryId, claimId, reason: "broker down" },
  metadata: { now: at },
});
const purge: DeadLetterCommand = { type: "PurgeDeadLetter", data: { entryId, reason: "test order" }, metadata: { now: at } };
const deadLettered: DeadLetterEvent = { type: "MessageDeadLettered", data: { ...message, entryId, at } };
const claimed = (claimId = "claim-1"): DeadLetterEvent => ({ type: "DeadLetterReplayClaimed", data: { entryId, claimId, ...claimant, at } });
const replayed: DeadLetterEvent = { type: "DeadLetterReplayed", data: { entryId, claimId: "claim-1", at } };
const released: DeadLetterEvent = { type: "DeadLetterReplayReleased", data: { entryId, claimId: "claim-1", reason: "broker down", at } };
/** As the DLQ recorded a replay before claims existed: no claim id. */
const legacyReplayed: DeadLetterEvent = { type: "DeadLetterReplayed", data: { entryId, at } };
const purged: DeadLetterEvent = { type: "DeadLetterPurged", data: { entryId, reason: "test order", at } };

describe("dead letter decider", () => {
  it("records a death", () => spec.given([]).when(record()).then([deadLettered]));
  it("records the same death drained twice once", () => spec.given([deadLettered]).when(record()).then([]));
  it("records a new death after a replay", () => {
    const again = record("2026-11-29T10:05:00.000Z");
    spec
      .given([deadLettered, claimed(), replayed])
      .when(again)
      .then([{ type: "MessageDeadLettered", data: { ...message, lastFailureAt: "2026-11-29T10:05:00.000Z", entryId, at } }]);
  });

  describe("a replay claims the entry before it sends, and completes the claim after", () => {
    it("claims a dead message for one replay, naming the claim and the process that holds it", () => {
      spec.given([deadLettered]).when(replay()).then([claimed()]);
      spec.given([deadLettered, claimed()]).thenState({
        status: "replaying",
        id: entryId,
        message,
        deaths: 1,
        replays: 0,
        deadLetteredAt: at,
        replayedAt: null,
        purge: null,
        claim: { id: "claim-1", ...claimant, at },
        edited: null,
      });
    });
    it("completes its own claim once the message is sent: the entry is replayed", () => {
      spec.given([deadLettered, claimed()]).when(complete()).then([replayed]);
      spec.given([deadLettered, claimed(), replayed]).thenState({
        status: "replayed",
        id: entryId,
        message,
        deaths: 1,
        replays: 1,
        deadLetteredAt: at,
        replayedAt: at,
        purge: null,
        claim: null,
        edited: null,
      });
    });
    it("refuses a second claim while one is held: a concurrent replay never sends it again", () => {
      spec.given([deadLettered, claimed()]).when(replay("claim-2")).thenThrows("DEAD_LETTER_REPLAYING");
      spec.given([deadLettered, claimed()]).when(replay("claim-2", "another-claim")).thenThrows("DEAD_LETTER_REPLAYING");
    });
    it("takes over a claim whose holder is gone (the process died between claim and send)", () => {
      spec
        .given([deadLettered, claimed()])
        .when(replay("claim-2", "claim-1"))
        .then([claimed("claim-2")]);
      spec
        .given([deadLettered, claimed(), claimed("claim-2")])
        .when(complete("claim-1"))
        .then([]);
      spec
        .given([deadLettered, claimed(), claimed("claim-2")])
        .when(complete("claim-2"))
        .then([{ ...replayed, data: { ...replayed.data, claimId: "claim-2" } }]);
    });
    it("replays once: a replay of a replayed entry does nothing, and so does a completion without its claim", () => {
      spec.given([deadLettered, claimed(), replayed]).when(replay("claim-2")).then([]);
      spec.given([deadLettered, claimed(), replayed]).when(complete()).then([]);
      spec.given([deadLettered]).when(complete()).then([]);
    });
    it("gives a claim back when the send failed: the entry is dead again and can be replayed", () => {
      spec.given([deadLettered, claimed()]).when(release()).then([released]);
      spec.given([deadLettered, claimed(), released]).when(release()).then([]);
      spec
        .given([deadLettered, claimed(), released])
        .when(replay("claim-2"))
        .then([claimed("claim-2")]);
      spec
        .given([deadLettered, claimed(), claimed("claim-2")])
        .when(release())
        .then([]);
    });
    it("lets a new death of the replayed message end the claim", () => {
      const again = record("2026-11-29T10:05:00.000Z");
      spec
        .given([deadLettered, claimed()])
        .when(again)
        .then([{ type: "MessageDeadLettered", data: { ...message, lastFailureAt: "2026-11-29T10:05:00.000Z", entryId, at } }]);
      spec
        .given([deadLettered, claimed(), { type: "MessageDeadLettered", data: { ...message, entryId, at } }])
        .when(complete())
        .then([]);
    });
    it("folds a replay recorded before claims existed", () => {
      spec.given([deadLettered, legacyReplayed]).when(replay()).then([]);
      spec.given([deadLettered, legacyReplayed]).when(purge).thenThrows("DEAD_LETTER_REPLAYED");
    });
  });

  it("purges with a reason, kept as a record; a second purge does nothing", () => {
    spec.given([deadLettered]).when(purge).then([purged]);
    spec.given([deadLettered, purged]).when(purge).then([]);
    spec.given([deadLettered, purged]).thenState({
      status: "purged",
      id: entryId,
      message,
      deaths: 1,
      replays: 0,
      deadLetteredAt: at,
      replayedAt: null,
      purge: { reason: "test order", at },
      claim: null,
      edited: null,
    });
  });
  it("refuses to replay a purged message and to purge a replayed one, or one whose replay is under way", () => {
    spec.given([deadLettered, purged]).when(replay()).thenThrows("DEAD_LETTER_PURGED");
    spec.given([deadLettered, claimed(), replayed]).when(purge).thenThrows("DEAD_LETTER_REPLAYED");
    spec.given([deadLettered, claimed()]).when(purge).thenThrows("DEAD_LETTER_REPLAYING");
  });
  describe("an operator fixes the payload of a dead message before replaying it", () => {
    const patch = [{ op: "replace" as const, path: "/data/orderId", value: "o-2" }];
    const fixed = { data: { orderId: "o-2" } };
    const edit: DeadLetterCommand = {
      type: "EditDeadLetter",
      data: { entryId, patch, payload: fixed, by: "alice", reason: "wrong order id" },
      metadata: { now: at },
    };
    const edited: DeadLetterEvent = { type: "DeadLetterEdited", data: { entryId, by: "alice", reason: "wrong order id", patch, payload: fixed, at } };

    it("records who, why, the patch and the payload it gave; the entry then holds only the edited payload", () => {
      spec.given([deadLettered]).when(edit).then([edited]);
      spec.given([deadLettered, edited]).thenState({
        status: "dead",
        id: entryId,
        message: { ...message, payload: fixed },
        deaths: 1,
        replays: 0,
        deadLetteredAt: at,
        replayedAt: null,
        purge: null,
        claim: null,
        edited: { by: "alice", reason: "wrong order id", at },
      });
    });
    it("edits again an entry edited before, and one whose replay failed and gave its claim back", () => {
      spec.given([deadLettered, edited]).when(edit).then([edited]);
      spec.given([deadLettered, claimed(), released]).when(edit).then([edited]);
    });
    it("refuses to edit an entry being replayed, replayed or purged: what was sent stays what was sent", () => {
      spec.given([deadLettered, claimed()]).when(edit).thenThrows("DEAD_LETTER_REPLAYING");
      spec.given([deadLettered, claimed(), replayed]).when(edit).thenThrows("DEAD_LETTER_REPLAYED");
      spec.given([deadLettered, purged]).when(edit).thenThrows("DEAD_LETTER_PURGED");
      spec.given([]).when(edit).thenThrows("DEAD_LETTER_NOT_FOUND");
    });
    it("forgets an edit when the message dies again: what died is what a replay sends", () => {
      const diedAgain: DeadLetterEvent = {
        type: "MessageDeadLettered",
        data: { ...message, payload: fixed, lastFailureAt: "2026-11-29T10:05:00.000Z", entryId, at },
      };
      spec.given([deadLettered, edited, claimed(), replayed, diedAgain]).thenState({
        status: "dead",
        id: entryId,
        message: { ...message, payload: fixed, lastFailureAt: "2026-11-29T10:05:00.000Z" },
        deaths: 2,
        replays: 1,
        deadLetteredAt: at,
        replayedAt: at,
        purge: null,
        claim: null,
        edited: null,
      });
    });
  });

  it("knows no entry that never died", () => {
    spec.given([]).when(replay()).thenThrows("DEAD_LETTER_NOT_FOUND");
    spec.given([]).when(purge).thenThrows("DEAD_LETTER_NOT_FOUND");
    spec.given([]).when(complete()).thenThrows("DEAD_LETTER_NOT_FOUND");
    spec.given([]).when(release()).thenThrows("DEAD_LETTER_NOT_FOUND");
  });
});

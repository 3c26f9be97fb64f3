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
const replay: DeadLetterCommand = { type: "ReplayDeadLetter", data: { entryId }, metadata: { now: at } };
const purge: DeadLetterCommand = { type: "PurgeDeadLetter", data: { entryId, reason: "test order" }, metadata: { now: at } };
const deadLettered: DeadLetterEvent = { type: "MessageDeadLettered", data: { ...message, entryId, at } };
const replayed: DeadLetterEvent = { type: "DeadLetterReplayed", data: { entryId, at } };
const purged: DeadLetterEvent = { type: "DeadLetterPurged", data: { entryId, reason: "test order", at } };

describe("dead letter decider", () => {
  it("records a death", () => spec.given([]).when(record()).then([deadLettered]));
  it("records the same death drained twice once", () => spec.given([deadLettered]).when(record()).then([]));
  it("records a new death after a replay", () => {
    const again = record("2026-11-29T10:05:00.000Z");
    spec.given([deadLettered, replayed]).when(again).then([{ type: "MessageDeadLettered", data: { ...message, lastFailureAt: "2026-11-29T10:05:00.000Z", entryId, at } }]);
  });
  it("replays a dead message once: a second replay does nothing", () => {
    spec.given([deadLettered]).when(replay).then([replayed]);
    spec.given([deadLettered, replayed]).when(replay).then([]);
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
    });
  });
  it("refuses to replay a purged message and to purge a replayed one", () => {
    spec.given([deadLettered, purged]).when(replay).thenThrows("DEAD_LETTER_PURGED");
    spec.given([deadLettered, replayed]).when(purge).thenThrows("DEAD_LETTER_REPLAYED");
  });
  it("knows no entry that never died", () => {
    spec.given([]).when(replay).thenThrows("DEAD_LETTER_NOT_FOUND");
    spec.given([]).when(purge).thenThrows("DEAD_LETTER_NOT_FOUND");
  });
});

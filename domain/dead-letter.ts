import { DomainError } from "./errors";

/**
 * The decider of one dead-lettered message (per origin queue and message id): recorded each
 * time it dies, replayed or purged by an operator, never deleted.
 *
 * A replay is three steps, so that concurrent operators send a message once and a crash loses
 * none: claim (DeadLetterReplayClaimed, appended at the revision the replay loaded, so of two
 * concurrent replays or a replay and a purge exactly one gets it), send, complete
 * (DeadLetterReplayed). A claim names the process holding it; a claim whose holder is gone
 * (it died between claim and send, or between send and completion) can be taken over by a
 * later replay, which sends again: at least once, never lost. A send that fails gives the
 * claim back (DeadLetterReplayReleased): the entry is dead again.
 *
 * An operator may fix a dead message before replaying it (DeadLetterEdited, with who, why, the
 * JSON Patch and the payload it gave): the entry then holds only the edited payload, which is
 * what a replay sends. An edit is appended at the revision it was decided on, like a claim, so
 * an edit and a replay racing never send both the original and the edited message.
 */

export interface DeadMessage {
  messageId: string;
  topic: string;
  payload: Record<string, unknown>;
  headers: Record<string, string | number | boolean>;
  originQueue: string;
  error: { name: string; message: string; stack: string };
  attempts: number;
  firstFailureAt: string;
  lastFailureAt: string;
}

/** Who holds a replay: the claim's id, and the broker (node and its instance, new at each start) that made it. */
export interface Claimant {
  claimId: string;
  nodeID: string;
  instanceID: string;
}

export type ReplayClaim = { id: string; nodeID: string; instanceID: string; at: string };

/** One operation of an RFC 6902 JSON Patch, as the operator sent it (checked and applied by the service). */
export interface PatchOperation {
  op: "add" | "remove" | "replace" | "move" | "copy" | "test";
  path: string;
  from?: string;
  value?: unknown;
}

/** The last fix of the payload: who made it, and why. */
export interface PayloadEdit {
  by: string;
  reason: string;
  at: string;
}

export type DeadLetterCommand =
  | { type: "RecordDeadLetter"; data: { entryId: string; message: DeadMessage }; metadata: { now: string } }
  /** `takeOver`: the id of the claim in place that the caller found abandoned (its holder is gone). */
  | { type: "ReplayDeadLetter"; data: Claimant & { entryId: string; takeOver?: string }; metadata: { now: string } }
  | { type: "CompleteReplay"; data: { entryId: string; claimId: string }; metadata: { now: string } }
  | { type: "ReleaseReplay"; data: { entryId: string; claimId: string; reason: string }; metadata: { now: string } }
  | { type: "PurgeDeadLetter"; data: { entryId: string; reason: string }; metadata: { now: string } }
  /** `payload`: the entry's payload with `patch` applied, checked against its event type's schema. */
  | {
      type: "EditDeadLetter";
      data: { entryId: string; patch: PatchOperation[]; payload: Record<string, unknown>; by: string; reason: string };
      metadata: { now: string };
    };

export type DeadLetterEvent =
  | { type: "MessageDeadLettered"; data: DeadMessage & { entryId: string; at: string } }
  | { type: "DeadLetterReplayClaimed"; data: Claimant & { entryId: string; at: string } }
  /** The message was sent back. Without `claimId` when recorded before claims existed. */
  | { type: "DeadLetterReplayed"; data: { entryId: string; claimId?: string; at: string } }
  | { type: "DeadLetterReplayReleased"; data: { entryId: string; claimId: string; reason: string; at: string } }
  | { type: "DeadLetterPurged"; data: { entryId: string; reason: string; at: string } }
  | {
      type: "DeadLetterEdited";
      data: { entryId: string; by: string; reason: string; patch: PatchOperation[]; payload: Record<string, unknown>; at: string };
    };

/** "replaying": claimed by a replay that has not completed (it is sending, or its process died). */
export type DeadLetterStatus = "dead" | "replaying" | "replayed" | "purged";

export type DeadLetterEntry =
  | { status: "none" }
  | {
      status: DeadLetterStatus;
      id: string;
      message: DeadMessage;
      /** How many times the message ended in the DLQ. */
      deaths: number;
      replays: number;
      deadLetteredAt: string;
      replayedAt: string | null;
      purge: { reason: string; at: string } | null;
      /** The replay holding the entry while it is "replaying". */
      claim: ReplayClaim | null;
      /** The last edit of the payload since the message last died; null when it is as it died. */
      edited: PayloadEdit | null;
    };

export type DeadLetterErrorCode =
  | "DEAD_LETTER_NOT_FOUND"
  | "DEAD_LETTER_PURGED"
  | "DEAD_LETTER_REPLAYED"
  | "DEAD_LETTER_REPLAYING"
  /** Another operation appended to the entry between this one's read and its append. */
  | "DEAD_LETTER_CONFLICT";

export function initialState(): DeadLetterEntry {
  return { status: "none" };
}

export function decide(command: DeadLetterCommand, state: DeadLetterEntry): DeadLetterEvent[] {
  const at = command.metadata.now;
  switch (command.type) {
    case "RecordDeadLetter": {
      const { entryId, message } = command.data;
      // The same death drained twice (the DLQ redelivered it before its ack) is one death.
      if (state.status === "dead" && state.message.lastFailureAt === message.lastFailureAt) return [];
      return [{ type: "MessageDeadLettered", data: { ...message, entryId, at } }];
    }
    case "ReplayDeadLetter": {
      const { takeOver, entryId, ...claimant } = command.data;
      const entry = existing(state, entryId);
      if (entry.status === "replayed") return [];
      if (entry.status === "purged") {
        throw new DomainError<DeadLetterErrorCode>("DEAD_LETTER_PURGED", `dead letter ${entry.id} was purged`, { reason: entry.purge?.reason });
      }
      if (entry.status === "replaying" && entry.claim?.id !== takeOver) throw replaying(entry);
      return [{ type: "DeadLetterReplayClaimed", data: { entryId: entry.id, ...claimant, at } }];
    }
    case "CompleteReplay": {
      const entry = existing(state, command.data.entryId);
      // A claim taken over, or ended by a new death of the message, is no longer this replay's.
      if (!holds(entry, command.data.claimId)) return [];
      return [{ type: "DeadLetterReplayed", data: { entryId: entry.id, claimId: command.data.claimId, at } }];
    }
    case "ReleaseReplay": {
      const entry = existing(state, command.data.entryId);
      if (!holds(entry, command.data.claimId)) return [];
      return [{ type: "DeadLetterReplayReleased", data: { entryId: entry.id, claimId: command.data.claimId, reason: command.data.reason, at } }];
    }
    case "PurgeDeadLetter": {
      const entry = existing(state, command.data.entryId);
      if (entry.status === "purged") return [];
      if (entry.status === "replayed") {
        throw new DomainError<DeadLetterErrorCode>("DEAD_LETTER_REPLAYED", `dead letter ${entry.id} was replayed; nothing to purge`);
      }
      // The message may be on its way already: replay it to the end instead.
      if (entry.status === "replaying") throw replaying(entry);
      return [{ type: "DeadLetterPurged", data: { entryId: entry.id, reason: command.data.reason, at } }];
    }
    case "EditDeadLetter": {
      const { entryId, patch, payload, by, reason } = command.data;
      const entry = editable(state, entryId);
      return [{ type: "DeadLetterEdited", data: { entryId: entry.id, by, reason, patch, payload, at } }];
    }
    default: {
      const unknown: never = command;
      throw new Error(`unknown command ${JSON.stringify(unknown)}`);
    }
  }
}

export function evolve(state: DeadLetterEntry, event: DeadLetterEvent): DeadLetterEntry {
  switch (event.type) {
    case "MessageDeadLettered": {
      const { entryId, at, ...message } = event.data;
      const before = state.status === "none" ? { deaths: 0, replays: 0, replayedAt: null } : state;
      return {
        status: "dead",
        id: entryId,
        message,
        deaths: before.deaths + 1,
        replays: before.replays,
        deadLetteredAt: at,
        replayedAt: before.replayedAt,
        purge: null,
        claim: null,
        // What died this time is what a replay sends: an earlier edit no longer applies.
        edited: null,
      };
    }
    case "DeadLetterReplayClaimed": {
      const { entryId: _entryId, claimId, at, ...claimant } = event.data;
      return state.status === "none" ? state : { ...state, status: "replaying", claim: { id: claimId, ...claimant, at } };
    }
    case "DeadLetterReplayed":
      return state.status === "none" ? state : { ...state, status: "replayed", replays: state.replays + 1, replayedAt: event.data.at, claim: null };
    case "DeadLetterReplayReleased":
      return state.status === "none" ? state : { ...state, status: "dead", claim: null };
    case "DeadLetterPurged":
      return state.status === "none" ? state : { ...state, status: "purged", purge: { reason: event.data.reason, at: event.data.at }, claim: null };
    case "DeadLetterEdited": {
      const { payload, by, reason, at } = event.data;
      return state.status === "none" ? state : { ...state, message: { ...state.message, payload }, edited: { by, reason, at } };
    }
    default: {
      const unknown: never = event;
      throw new Error(`unknown event ${JSON.stringify(unknown)}`);
    }
  }
}

type Entry = Exclude<DeadLetterEntry, { status: "none" }>;

function holds(entry: Entry, claimId: string): boolean {
  return entry.status === "replaying" && entry.claim?.id === claimId;
}

function replaying(entry: Entry): DomainError<DeadLetterErrorCode> {
  return new DomainError<DeadLetterErrorCode>("DEAD_LETTER_REPLAYING", `dead letter ${entry.id} is being replayed`, { claimedAt: entry.claim?.at });
}

/**
 * The entry, if its payload may be edited: only while it is dead. A replay under way or done
 * has sent (or is sending) the payload as it is; a purged entry is closed.
 */
export function editable(state: DeadLetterEntry, entryId: string): Entry {
  const entry = existing(state, entryId);
  switch (entry.status) {
    case "dead":
      return entry;
    case "replaying":
      throw replaying(entry);
    case "replayed":
      throw new DomainError<DeadLetterErrorCode>("DEAD_LETTER_REPLAYED", `dead letter ${entry.id} was replayed; its payload can no longer change`);
    case "purged":
      throw new DomainError<DeadLetterErrorCode>("DEAD_LETTER_PURGED", `dead letter ${entry.id} was purged`, { reason: entry.purge?.reason });
    default: {
      const unknown: never = entry.status;
      throw new Error(`unknown status ${String(unknown)}`);
    }
  }
}

function existing(state: DeadLetterEntry, entryId: string): Entry {
  if (state.status === "none") throw new DomainError<DeadLetterErrorCode>("DEAD_LETTER_NOT_FOUND", `dead letter ${entryId} not found`);
  return state;
}

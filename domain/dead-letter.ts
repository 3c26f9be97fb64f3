import { DomainError } from "./errors";

/**
 * The decider of one dead-lettered message (per origin queue and message id): recorded each
 * time it dies, replayed or purged by an operator, never deleted.
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

export type DeadLetterCommand =
  | { type: "RecordDeadLetter"; data: { entryId: string; message: DeadMessage }; metadata: { now: string } }
  | { type: "ReplayDeadLetter"; data: { entryId: string }; metadata: { now: string } }
  | { type: "PurgeDeadLetter"; data: { entryId: string; reason: string }; metadata: { now: string } };

export type DeadLetterEvent =
  | { type: "MessageDeadLettered"; data: DeadMessage & { entryId: string; at: string } }
  | { type: "DeadLetterReplayed"; data: { entryId: string; at: string } }
  | { type: "DeadLetterPurged"; data: { entryId: string; reason: string; at: string } };

export type DeadLetterStatus = "dead" | "replayed" | "purged";

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
    };

export type DeadLetterErrorCode = "DEAD_LETTER_NOT_FOUND" | "DEAD_LETTER_PURGED" | "DEAD_LETTER_REPLAYED";

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
      const entry = existing(state, command.data.entryId);
      if (entry.status === "replayed") return [];
      if (entry.status === "purged") {
        throw new DomainError<DeadLetterErrorCode>("DEAD_LETTER_PURGED", `dead letter ${entry.id} was purged`, { reason: entry.purge?.reason });
      }
      return [{ type: "DeadLetterReplayed", data: { entryId: entry.id, at } }];
    }
    case "PurgeDeadLetter": {
      const entry = existing(state, command.data.entryId);
      if (entry.status === "purged") return [];
      if (entry.status === "replayed") {
        throw new DomainError<DeadLetterErrorCode>("DEAD_LETTER_REPLAYED", `dead letter ${entry.id} was replayed; nothing to purge`);
      }
      return [{ type: "DeadLetterPurged", data: { entryId: entry.id, reason: command.data.reason, at } }];
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
      };
    }
    case "DeadLetterReplayed":
      return state.status === "none" ? state : { ...state, status: "replayed", replays: state.replays + 1, replayedAt: event.data.at };
    case "DeadLetterPurged":
      return state.status === "none" ? state : { ...state, status: "purged", purge: { reason: event.data.reason, at: event.data.at } };
    default: {
      const unknown: never = event;
      throw new Error(`unknown event ${JSON.stringify(unknown)}`);
    }
  }
}

function existing(state: DeadLetterEntry, entryId: string): Exclude<DeadLetterEntry, { status: "none" }> {
  if (state.status === "none") throw new DomainError<DeadLetterErrorCode>("DEAD_LETTER_NOT_FOUND", `dead letter ${entryId} not found`);
  return state;
}

import type { DeadMessage } from "./dead-letter";

/**
 * What makes dead letters alike, so that an operator sees one line per cause instead of a
 * thousand: the error's type, its message with what varies between messages replaced by
 * placeholders ("order 123 failed" and "order 456 failed" are one cause), and where the
 * message died (its origin queue and event type).
 */
export interface DeadLetterFingerprint {
  errorType: string;
  message: string;
  originQueue: string;
  eventType: string;
}

/** A group's message is shown, not searched: longer ones are cut so that a stack pasted into a message stays one line. */
export const MAX_NORMALISED_MESSAGE = 300;

/**
 * In this order: a quoted value may hold anything (a UUID, a number); a timestamp is digits
 * glued to letters (`29T10`); a UUID and a hex id contain digits that must not become `<n>`
 * one by one. Hex ids: `0x…`, or 8 or more hex digits with at least one digit and one letter
 * (a word such as "deadbeef" or a decimal number is left to the other rules).
 */
const PLACEHOLDERS: readonly (readonly [RegExp, string])[] = [
  [/"[^"]*"|'[^']*'|`[^`]*`/g, "<value>"],
  [/\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?/g, "<time>"],
  [/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi, "<uuid>"],
  [/\b0x[0-9a-f]+\b/gi, "<hex>"],
  [/\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{8,}\b/gi, "<hex>"],
  [/\d+(?:\.\d+)?/g, "<n>"],
];

/** An error message with what varies between occurrences of one cause replaced by placeholders. */
export function normaliseErrorMessage(message: string): string {
  const normalised = PLACEHOLDERS.reduce((text, [pattern, placeholder]) => text.replace(pattern, placeholder), message)
    .replace(/\s+/g, " ")
    .trim();
  return normalised.length <= MAX_NORMALISED_MESSAGE ? normalised : `${normalised.slice(0, MAX_NORMALISED_MESSAGE - 1)}…`;
}

export function fingerprintOf(message: Pick<DeadMessage, "error" | "originQueue" | "topic">): DeadLetterFingerprint {
  return {
    errorType: message.error.name,
    message: normaliseErrorMessage(message.error.message),
    originQueue: message.originQueue,
    eventType: message.topic,
  };
}

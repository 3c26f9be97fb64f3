import { ConsumeMessage, MessagePropertyHeaders, Options } from "amqplib";
import { applicationHeaders } from "../application-headers";
import { FailureHistory, newDeliveryId } from "../failure";
import { AmqpTopology } from "./topology";
import { DeadLetter, Delivery, Headers, JsonObject, OutgoingMessage } from "../port";

/** The bus's own state travels in "x-" headers, next to the application's headers. */
const X = {
  topic: "x-topic",
  attempt: "x-attempt",
  firstFailureAt: "x-first-failure-at",
  lastFailureAt: "x-last-failure-at",
  errorName: "x-error-name",
  errorMessage: "x-error-message",
  errorStack: "x-error-stack",
  originQueue: "x-origin-queue",
  failedDeliveryId: "x-failed-delivery-id",
} as const;

export function encode(payload: JsonObject): Buffer {
  return Buffer.from(JSON.stringify(payload));
}

export function publishOptions(messageId: string, headers: Headers): Options.Publish {
  return { persistent: true, messageId, contentType: "application/json", headers };
}

/** A message put straight on a work queue: the default exchange loses the topic, x-topic keeps it. */
export function firstAttemptHeaders(message: OutgoingMessage): Headers {
  return { ...applicationHeaders(message.headers), [X.topic]: message.topic };
}

export function attemptOf(message: ConsumeMessage): number {
  const attempt: unknown = headersOf(message)[X.attempt];
  return typeof attempt === "number" ? attempt : 1;
}

export function toDelivery(message: ConsumeMessage, queue: string): Delivery {
  const failures = failureHistoryOf(message);
  return {
    messageId: messageIdOf(message),
    topic: topicOf(message),
    payload: decode(message),
    headers: applicationHeaders(headersOf(message)),
    queue,
    attempt: attemptOf(message),
    deliveryId: newDeliveryId(),
    ...(failures ? { lastFailureAt: failures.lastFailureAt } : {}),
    ...(failures?.deliveryId ? { retryOf: failures.deliveryId } : {}),
  };
}

export function failureHistoryOf(message: ConsumeMessage): FailureHistory | undefined {
  const headers = headersOf(message);
  const firstFailureAt = stringHeader(headers, X.firstFailureAt);
  if (firstFailureAt === undefined) return undefined;
  const deliveryId = stringHeader(headers, X.failedDeliveryId);
  return {
    ...(deliveryId === undefined ? {} : { deliveryId }),
    firstFailureAt,
    lastFailureAt: stringHeader(headers, X.lastFailureAt) ?? firstFailureAt,
    error: {
      name: stringHeader(headers, X.errorName) ?? "Error",
      message: stringHeader(headers, X.errorMessage) ?? "",
      stack: stringHeader(headers, X.errorStack) ?? "",
    },
  };
}

/** The copy that waits `delayMs` in a delay queue for the next attempt. */
export function retryCopyOptions(message: ConsumeMessage, failures: FailureHistory, delayMs: number): Options.Publish {
  const headers = { ...failedCopyHeaders(message, failures), [X.attempt]: attemptOf(message) + 1 };
  return { ...publishOptions(messageIdOf(message), headers), expiration: String(delayMs) };
}

/**
 * The copy that replaces a message handed back (see HandBack): the same attempt and failure
 * history, and the topic, which the default exchange it goes through would lose. A fresh
 * message, so the quorum queue's delivery count of the original does not follow it.
 */
export function handBackCopyOptions(message: ConsumeMessage): Options.Publish {
  const failures = failureHistoryOf(message);
  const headers: Headers = {
    ...(failures ? failedCopyHeaders(message, failures) : { ...applicationHeaders(headersOf(message)), [X.topic]: topicOf(message) }),
    [X.attempt]: attemptOf(message),
  };
  return publishOptions(messageIdOf(message), headers);
}

/** The copy given up on after its last attempt. */
export function deadLetterCopyOptions(message: ConsumeMessage, failures: FailureHistory, queue: string): Options.Publish {
  const headers = { ...failedCopyHeaders(message, failures), [X.attempt]: attemptOf(message), [X.originQueue]: queue };
  return publishOptions(messageIdOf(message), headers);
}

/**
 * Reads a message of the dead-letter queue. Most were put there by the bus after the last
 * attempt; the others by RabbitMQ itself (the quorum delivery limit: a consumer kept dying
 * with the message unacked), which only leaves its x-death record to go by.
 */
export function toDeadLetter(message: ConsumeMessage, topology: AmqpTopology): DeadLetter {
  const headers = headersOf(message);
  const originQueue = stringHeader(headers, X.originQueue);
  const failures = failureHistoryOf(message);
  const common = {
    messageId: messageIdOf(message),
    topic: topicOf(message),
    payload: decode(message),
    headers: applicationHeaders(headers),
    attempts: attemptOf(message),
  };
  if (originQueue !== undefined && failures) {
    const { firstFailureAt, lastFailureAt, error } = failures;
    return { ...common, originQueue, error, firstFailureAt, lastFailureAt };
  }
  const death = headers["x-death"]?.[0];
  const diedAt = death ? new Date(death.time.value * 1000).toISOString() : new Date().toISOString();
  return {
    ...common,
    originQueue: death ? topology.queueOf(death.queue) : "",
    error: {
      name: "DeliveryLimitExceeded",
      message: `RabbitMQ dead-lettered the message (${death?.reason ?? "unknown reason"}): ` + "its consumers kept stopping without an ack",
      stack: "",
    },
    firstFailureAt: failures?.firstFailureAt ?? diedAt,
    lastFailureAt: diedAt,
  };
}

function failedCopyHeaders(message: ConsumeMessage, failures: FailureHistory): Headers {
  return {
    ...applicationHeaders(headersOf(message)),
    [X.topic]: topicOf(message),
    [X.firstFailureAt]: failures.firstFailureAt,
    [X.lastFailureAt]: failures.lastFailureAt,
    [X.errorName]: failures.error.name,
    [X.errorMessage]: failures.error.message,
    [X.errorStack]: failures.error.stack,
    ...(failures.deliveryId === undefined ? {} : { [X.failedDeliveryId]: failures.deliveryId }),
  };
}

export function topicOf(message: ConsumeMessage): string {
  return stringHeader(headersOf(message), X.topic) ?? message.fields.routingKey;
}

function messageIdOf(message: ConsumeMessage): string {
  const messageId: unknown = message.properties.messageId;
  return typeof messageId === "string" ? messageId : "";
}

function decode(message: ConsumeMessage): JsonObject {
  const payload: unknown = JSON.parse(message.content.toString("utf8"));
  if (typeof payload !== "object" || payload === null || Array.isArray(payload)) {
    throw new TypeError("The message body is not a JSON object");
  }
  return payload as JsonObject;
}

function headersOf(message: ConsumeMessage): MessagePropertyHeaders {
  return message.properties.headers ?? {};
}

function stringHeader(headers: MessagePropertyHeaders, key: string): string | undefined {
  const value: unknown = headers[key];
  return typeof value === "string" ? value : undefined;
}

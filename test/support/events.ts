import { randomUUID } from "node:crypto";
import { EventData, EventMetadata, JsonObject } from "../../adapters/event-store";

export function metadata(overrides: Partial<EventMetadata> = {}): EventMetadata {
  return {
    correlationId: randomUUID(),
    causationId: randomUUID(),
    occurredAt: "2026-11-29T10:00:00.000Z",
    ...overrides,
  };
}

export function anEvent(type: string, data: JsonObject = {}): EventData {
  return { id: randomUUID(), type, data, metadata: metadata() };
}

export function uniqueStream(prefix: string): string {
  return `${prefix}-${randomUUID()}`;
}

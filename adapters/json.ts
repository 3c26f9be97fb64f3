/** A JSON object as it travels: an event's data and metadata in the store, a message's payload on the bus. */
export type JsonObject = Record<string, unknown>;

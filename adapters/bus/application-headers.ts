import { Headers } from "./port";

/** The headers that belong to the application: "x-" keys are the bus's (and RabbitMQ's) own. */
export function applicationHeaders(headers: Readonly<Record<string, unknown>> | undefined): Headers {
  const kept: Headers = {};
  for (const [key, value] of Object.entries(headers ?? {})) {
    if (key.startsWith("x-")) continue;
    if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") kept[key] = value;
  }
  return kept;
}

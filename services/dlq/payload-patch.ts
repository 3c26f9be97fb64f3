import { JsonPatchError, Operation, applyPatch } from "fast-json-patch";
import type { PatchOperation } from "../../domain/dead-letter";
import { PayloadProblem, payloadProblems } from "./event-schemas";

/** Why a patch was refused: a 422 with these details, and nothing recorded. */
export class PatchRefused extends Error {
  override readonly name = "PatchRefused";
  constructor(
    readonly code: "JSON_PATCH_INVALID" | "PAYLOAD_INVALID" | "PAYLOAD_NOT_EDITABLE",
    message: string,
    readonly details: { operation?: number; problems?: PayloadProblem[]; eventType?: string },
  ) {
    super(message);
  }
}

/** Path segments that would reach an object's prototype (the gateway refuses them as body keys too). */
const FORBIDDEN_SEGMENT = /(^|\/)(__proto__|constructor|prototype)(\/|$)/;

/**
 * The payload with an RFC 6902 patch applied (fast-json-patch, which follows the RFC's test
 * suite: pointers with ~0 and ~1, "-" for an array's end, `test`, and a path that does not
 * exist as an error), then checked against the schema of its event type. The payload given is
 * not changed.
 * @throws PatchRefused when an operation cannot apply, or the result is not a valid event of that type.
 */
export function patchedPayload(topic: string, payload: Record<string, unknown>, patch: readonly PatchOperation[]): Record<string, unknown> {
  if (payloadProblems(topic, payload) === undefined) {
    throw new PatchRefused("PAYLOAD_NOT_EDITABLE", `no schema is known for ${topic} to check an edited payload against`, { eventType: topic });
  }
  const forbidden = patch.findIndex((operation) => [operation.path, operation.from ?? ""].some((path) => FORBIDDEN_SEGMENT.test(path)));
  if (forbidden !== -1)
    throw new PatchRefused("JSON_PATCH_INVALID", `operation ${forbidden}: a path may not name __proto__, constructor or prototype`, { operation: forbidden });
  let result: unknown;
  try {
    result = applyPatch(payload, patch.map(toOperation), true, false).newDocument;
  } catch (error) {
    if (!(error instanceof JsonPatchError)) throw error;
    throw new PatchRefused("JSON_PATCH_INVALID", `operation ${error.index ?? "?"}: ${error.name}: ${error.message.split("\n")[0]}`, { operation: error.index });
  }
  if (typeof result !== "object" || result === null || Array.isArray(result)) {
    throw new PatchRefused("PAYLOAD_INVALID", "the patched payload must stay a JSON object", { problems: [{ field: "", message: "not an object" }] });
  }
  const patched = Object.fromEntries(Object.entries(result));
  const problems = payloadProblems(topic, patched) ?? [];
  if (problems.length > 0) throw new PatchRefused("PAYLOAD_INVALID", `the patched payload is not a valid ${topic}`, { problems });
  return patched;
}

/** fast-json-patch's own union of operations, each with the members its op needs. */
function toOperation({ op, path, from, value }: PatchOperation, index: number): Operation {
  switch (op) {
    case "add":
    case "replace":
    case "test":
      return { op, path, value };
    case "remove":
      return { op, path };
    case "move":
    case "copy":
      // An empty `from` is the whole document: never what a missing one means.
      if (from === undefined) throw new PatchRefused("JSON_PATCH_INVALID", `operation ${index}: ${op} needs a from`, { operation: index });
      return { op, path, from };
    default: {
      const unknown: never = op;
      throw new Error(`unknown op ${String(unknown)}`);
    }
  }
}

import { OutgoingHttpHeaders, ServerResponse } from "node:http";
import { Errors } from "moleculer";

export interface ErrorBody {
  type: string;
  message: string;
  code: number;
  data: unknown;
}

/** body-parser's own error types, for what a client sent wrong before any action ran. */
const BODY_ERRORS: Record<string, { code: number; type: string }> = {
  "entity.parse.failed": { code: 400, type: "MALFORMED_JSON" },
  // The one check of the raw body (json-body.ts): its bytes are UTF-8.
  "entity.verify.failed": { code: 400, type: "INVALID_UTF8" },
  "request.aborted": { code: 400, type: "REQUEST_ABORTED" },
  "request.size.invalid": { code: 400, type: "REQUEST_SIZE_INVALID" },
  "entity.too.large": { code: 413, type: "PAYLOAD_TOO_LARGE" },
  "charset.unsupported": { code: 415, type: "UNSUPPORTED_MEDIA_TYPE" },
  "encoding.unsupported": { code: 415, type: "UNSUPPORTED_MEDIA_TYPE" },
};

/** 5xx refusals of the gateway itself, whose message is for the client: nothing failed inside. */
const GATEWAY_REFUSALS = new Set(["LIVE_FEED_FULL"]);

/** Moleculer's 404s that mean "nobody serves this right now", not "no such thing". */
const UNAVAILABLE = new Set(["SERVICE_NOT_FOUND", "SERVICE_NOT_AVAILABLE"]);

/**
 * The one shape of every error answer: {type, message, code, data}. Client errors keep their
 * message; anything else is a 5xx whose details stay in the log, not in the answer.
 */
export function toErrorBody(error: unknown): ErrorBody {
  const candidate = error as { type?: unknown; code?: unknown; message?: unknown; data?: unknown };
  const bodyError = typeof candidate?.type === "string" ? BODY_ERRORS[candidate.type] : undefined;
  if (bodyError) {
    return { type: bodyError.type, message: bodyErrorMessage(bodyError.type, candidate), code: bodyError.code, data: null };
  }
  if (error instanceof Errors.MoleculerError) {
    if (UNAVAILABLE.has(error.type)) {
      return { type: "SERVICE_UNAVAILABLE", message: "a service needed for this request is unavailable", code: 503, data: null };
    }
    if (error.code >= 400 && error.code < 600) {
      const clientError = error.code < 500 || GATEWAY_REFUSALS.has(error.type);
      return {
        type: error.type || error.name,
        message: clientError ? error.message : "the request could not be completed",
        code: error.code,
        data: clientError ? withoutInternals(error.data ?? null) : null,
      };
    }
  }
  return { type: "INTERNAL_ERROR", message: "internal error", code: 500, data: null };
}

function bodyErrorMessage(type: string, error: { message?: unknown }): string {
  switch (type) {
    case "MALFORMED_JSON":
      return `the request body is not valid JSON: ${String(error.message)}`;
    case "PAYLOAD_TOO_LARGE":
      return "the request body is larger than 64 KiB";
    default:
      return String(error.message);
  }
}

/** Which node and action refused a request is the cluster's business, not the client's. */
function withoutInternals(data: unknown): unknown {
  if (!Array.isArray(data)) return data;
  return data.map((entry: unknown) => {
    if (entry === null || typeof entry !== "object") return entry;
    const { nodeID: _node, action: _action, ...rest } = entry as Record<string, unknown>;
    return rest;
  });
}

/** Writes an error in the one shape, with any extra headers (Retry-After, Allow...). */
export function sendError(res: ServerResponse, error: unknown, headers: OutgoingHttpHeaders = {}): ErrorBody {
  const body = toErrorBody(error);
  res.writeHead(body.code, { ...headers, "Content-Type": "application/json; charset=utf-8" });
  res.end(JSON.stringify(body));
  return body;
}

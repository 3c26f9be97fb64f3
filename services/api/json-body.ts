import bodyParser from "body-parser";
import { isUtf8 } from "node:buffer";
import { IncomingMessage, ServerResponse } from "node:http";
import { Errors } from "moleculer";

type Next = (error?: unknown) => void;
type Middleware = (req: IncomingMessage & { body?: unknown }, res: ServerResponse, next: Next) => void;

export const MAX_BODY = "64kb";

/** Keys that would reach an object's prototype once the body is merged into action params. */
const FORBIDDEN_KEYS = new Set(["__proto__", "constructor", "prototype"]);

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers["content-length"];
  return req.headers["transfer-encoding"] !== undefined || (length !== undefined && length !== "0");
}

/** A body that is not JSON in UTF-8 (RFC 8259) is refused before it is read, whatever the route. */
const requireJson: Middleware = (req, _res, next) => {
  if (!hasBody(req)) return next();
  const [mediaType = "", ...parameters] = (req.headers["content-type"] ?? "").toLowerCase().split(";");
  const type = mediaType.trim();
  const charset = parameters.map((parameter) => parameter.trim()).find((parameter) => parameter.startsWith("charset="));
  const utf8 = charset === undefined || /^charset="?utf-8"?$/.test(charset);
  if (utf8 && (type === "application/json" || /^application\/[a-z0-9.+-]+\+json$/.test(type))) return next();
  next(
    new Errors.MoleculerClientError("request bodies must be application/json in UTF-8", 415, "UNSUPPORTED_MEDIA_TYPE", {
      contentType: req.headers["content-type"] ?? null,
    }),
  );
};

const parseJson = bodyParser.json({
  limit: MAX_BODY,
  strict: true,
  type: () => true,
  // Decoding would turn bytes that are not UTF-8 into U+FFFD, silently: refused instead.
  verify(_req, _res, raw: Buffer) {
    if (!isUtf8(raw)) throw new Error("the request body is not valid UTF-8");
  },
  reviver(key: string, value: unknown) {
    if (FORBIDDEN_KEYS.has(key)) throw new SyntaxError(`the key "${key}" is not allowed`);
    return value;
  },
}) as Middleware;

/** Action params are an object: a JSON array or scalar body has nothing to say to them. */
const requireObject: Middleware = (req, _res, next) => {
  const body = req.body;
  if (!hasBody(req) || (typeof body === "object" && body !== null && !Array.isArray(body))) return next();
  next(new Errors.MoleculerClientError("the request body must be a JSON object", 400, "MALFORMED_JSON", null));
};

/**
 * moleculer-web merges a request's query parameters over its body (Object.assign(params,
 * body, query)), so `POST /api/orders?customerId=x` would quietly replace the body's field.
 * A command takes its fields from its JSON body alone: a query string on anything but a read
 * is refused, and says so, rather than ignored.
 */
export const commandsTakeTheirBodyOnly: Middleware = (req, _res, next) => {
  const query = (req as { query?: Record<string, unknown> }).query ?? {};
  const names = Object.keys(query);
  if (req.method === "GET" || req.method === "HEAD" || names.length === 0) return next();
  next(
    new Errors.MoleculerClientError("commands take their fields from the JSON body only, not from the query string", 400, "QUERY_NOT_ALLOWED", {
      query: names,
    }),
  );
};

/** The gateway's body handling: JSON only, 64 KiB at most, an object, no prototype keys. */
export const jsonBody: Middleware[] = [requireJson, parseJson, requireObject];

import { IncomingMessage, ServerResponse } from "node:http";
import { Errors } from "moleculer";
import { sendError } from "./http-errors";
import { methodsAt, pathOf } from "./routes";

/** Request headers a browser page may send cross-origin, once its origin is allowed. */
const ALLOWED_HEADERS = "Content-Type, Authorization, Idempotency-Key";
/** Answer headers a cross-origin page may read. */
const EXPOSED_HEADERS = "Location, X-Request-ID, Retry-After";
const PREFLIGHT_MAX_AGE_S = 600;

/**
 * OPTIONS, answered by the gateway itself: moleculer-web would route a preflight to the
 * action of the method it names (Access-Control-Request-Method), so that any web page could
 * create or cancel an order with a preflight. A preflight from a listed origin for a method
 * the path takes is a 204 with CORS headers; any other preflight is a 403; an OPTIONS that is
 * not a preflight says which methods the path takes.
 */
export function answerOptions(req: IncomingMessage, res: ServerResponse, allowedOrigins: readonly string[]): void {
  const methods = methodsAt(pathOf(req.url));
  if (methods.length === 0) {
    sendError(res, new Errors.MoleculerClientError("no route answers this path", 404, "NOT_FOUND", null));
    return;
  }
  const requested = req.headers["access-control-request-method"];
  if (requested === undefined) {
    res.writeHead(204, { Allow: [...methods, "OPTIONS"].join(", ") });
    res.end();
    return;
  }
  const origin = req.headers.origin;
  const method = requested.toUpperCase();
  if (origin === undefined || !allowedOrigins.includes(origin) || !methods.includes(method)) {
    sendError(
      res,
      new Errors.MoleculerClientError("this cross-origin request is not allowed (CORS_ORIGINS)", 403, "CORS_NOT_ALLOWED", {
        origin: origin ?? null,
        method,
      }),
      { Vary: "Origin" },
    );
    return;
  }
  res.writeHead(204, {
    "Access-Control-Allow-Origin": origin,
    "Access-Control-Allow-Methods": methods.join(", "),
    "Access-Control-Allow-Headers": ALLOWED_HEADERS,
    "Access-Control-Max-Age": String(PREFLIGHT_MAX_AGE_S),
    Vary: "Origin",
  });
  res.end();
}

/** On an actual request from a listed origin, the headers that let its page read the answer. */
export function allowOrigin(req: IncomingMessage, res: ServerResponse, allowedOrigins: readonly string[]): void {
  const origin = req.headers.origin;
  res.setHeader("Vary", "Origin");
  if (origin === undefined || !allowedOrigins.includes(origin)) return;
  res.setHeader("Access-Control-Allow-Origin", origin);
  res.setHeader("Access-Control-Expose-Headers", EXPOSED_HEADERS);
}

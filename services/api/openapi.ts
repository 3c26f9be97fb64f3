import { readFileSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../../config";
import { dlqService } from "../dlq.service";
import { orchestratorService } from "../orchestrator.service";
import { ordersService } from "../orders.service";
import { tracesService } from "../traces.service";
import { JsonSchema } from "./openapi/json-schema";
import { ParamsField, objectSchema, paramsFields } from "./openapi/params-schema";
import { ANSWERS, Answer, RESPONSE_SCHEMAS, schemaRef } from "./openapi/response-schemas";
import { projectRoot } from "./project-root";
import { ADMIN_ALIASES, API_PATH, LIVE_PATH, PUBLIC_ALIASES } from "./routes";

/** What the document reads of a service schema: its name, its actions, and its mixins' actions. */
export interface ActionsSource {
  name?: string;
  actions?: object;
  mixins?: readonly ActionsSource[];
}

type Method = "get" | "put" | "post" | "delete" | "patch";

interface Parameter {
  name: string;
  in: "path" | "query" | "header";
  required: boolean;
  schema: JsonSchema;
}

type MediaTypes = Record<string, { schema: JsonSchema }>;

interface Response {
  description: string;
  headers?: Record<string, { description: string; schema: JsonSchema }>;
  content?: MediaTypes;
}

export interface Operation {
  operationId: string;
  tags: string[];
  summary: string;
  parameters?: Parameter[];
  requestBody?: { required: boolean; content: MediaTypes };
  security?: Record<string, string[]>[];
  responses: Record<string, Response>;
}

export type PathItem = Partial<Record<Method, Operation>>;

export interface OpenApiDocument {
  openapi: "3.1.0";
  info: { title: string; version: string; description: string };
  servers: { url: string }[];
  paths: Record<string, PathItem>;
  components: {
    schemas: Record<string, JsonSchema>;
    securitySchemes: Record<string, { type: "http"; scheme: "bearer"; description: string }>;
  };
}

const ADMIN_SCHEME = "adminToken";
/** Params the gateway takes from a header rather than from the body (api.service.ts, onBeforeCall). */
const HEADER_PARAMS: Readonly<Record<string, Readonly<Record<string, string>>>> = { "orders.create": { idempotencyKey: "Idempotency-Key" } };

const json = (schema: JsonSchema): MediaTypes => ({ "application/json": { schema } });
const refusal = (types: readonly string[]): Response => ({ description: types.join(", "), content: json(schemaRef("Error")) });

/**
 * The OpenAPI 3.1 document of every route of the gateway (routes.ts) and of the live feed,
 * served at GET /api/openapi.json. What a route takes comes from its action's own
 * fastest-validator params, so that a new param cannot be left out; what it answers, from
 * openapi/response-schemas.ts. `api` is the gateway's own schema, whose actions some routes name.
 * Throws when a route names an action it cannot find or whose params it cannot convert.
 */
export function openApiDocument(api: ActionsSource): OpenApiDocument {
  const actions = actionsOf([api, ...routedServices()]);
  const paths: Record<string, PathItem> = {};
  const routes = [
    ...Object.entries(PUBLIC_ALIASES).map(([alias, action]) => ({ alias, action, admin: false })),
    ...Object.entries(ADMIN_ALIASES).map(([alias, action]) => ({ alias, action, admin: true })),
  ];
  for (const { alias, action, admin } of routes) {
    const [verb = "", path = ""] = alias.split(" ");
    const method = methodOf(verb, alias);
    const template = path.replace(/:([A-Za-z0-9_]+)/g, "{$1}");
    const item = (paths[template] ??= {});
    if (!actions.has(action)) throw new Error(`${alias}: no service schema has the action ${action}`);
    item[method] = operationOf(alias, method, action, actions.get(action), admin);
  }
  (paths[LIVE_PATH.slice(API_PATH.length)] ??= {}).get = LIVE_OPERATION;
  return {
    openapi: "3.1.0",
    info: {
      title: "GlitchBuster REST API",
      version: packageVersion(),
      description:
        "Every error answer is an Error {type, message, code, data}. Admin routes need Authorization: Bearer <token> (ADMIN_TOKENS or ADMIN_TOKEN). " +
        "Commands take a JSON object body (application/json in UTF-8, 64 KiB at most) and no query string.",
    },
    servers: [{ url: API_PATH }],
    paths,
    components: {
      schemas: RESPONSE_SCHEMAS,
      securitySchemes: {
        [ADMIN_SCHEME]: {
          type: "http",
          scheme: "bearer",
          description: "A token of ADMIN_TOKENS (name:token,...) or ADMIN_TOKEN; its name is recorded as the actor of every event the call causes.",
        },
      },
    },
  };
}

function methodOf(verb: string, alias: string): Method {
  const method = verb.toLowerCase();
  if (method === "get" || method === "put" || method === "post" || method === "delete" || method === "patch") return method;
  throw new Error(`${alias}: the method ${verb} has no place in the document`);
}

function operationOf(alias: string, method: Method, action: string, params: unknown, admin: boolean): Operation {
  const answer = answerOf(action);
  const { fields, closed } = params === undefined ? { fields: [], closed: false } : paramsFields(params, action);
  const pathNames = [...alias.matchAll(/:([A-Za-z0-9_]+)/g)].map((match) => match[1] ?? "");
  const headerNames = HEADER_PARAMS[action] ?? {};
  const fieldNamed = (name: string): ParamsField => {
    const field = fields.find((candidate) => candidate.name === name);
    if (!field) throw new Error(`${alias}: :${name} is no param of ${action}`);
    return field;
  };
  // What is left: a GET takes it from its query string, a command from its JSON body.
  const requestFields = fields.filter((field) => !pathNames.includes(field.name) && !Object.hasOwn(headerNames, field.name));
  const command = method !== "get";
  const parameters: Parameter[] = [
    ...pathNames.map((name): Parameter => ({ name, in: "path", required: true, schema: fieldNamed(name).schema })),
    ...Object.entries(headerNames).map(([name, header]): Parameter => {
      const field = fieldNamed(name);
      return { name: header, in: "header", required: !field.optional, schema: field.schema };
    }),
    ...(command ? [] : requestFields.map((field): Parameter => ({ name: field.name, in: "query", required: !field.optional, schema: field.schema }))),
  ];
  return {
    operationId: action,
    tags: [action.split(".")[0] ?? action],
    summary: answer.summary,
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(command && requestFields.length > 0
      ? { requestBody: { required: requestFields.some((field) => !field.optional), content: json(objectSchema(requestFields, closed)) } }
      : {}),
    ...(admin ? { security: [{ [ADMIN_SCHEME]: [] }] } : {}),
    responses: responsesOf(answer, { command, admin, validated: fields.length > 0 }),
  };
}

function answerOf(action: string): Answer {
  const answer = new Map<string, Answer>(Object.entries(ANSWERS)).get(action);
  if (!answer) throw new Error(`the action ${action} has no answer in services/api/openapi/response-schemas.ts`);
  return answer;
}

/** The success, then every refusal the route may give: its own, and the gateway's for its kind of route. */
function responsesOf(answer: Answer, route: { command: boolean; admin: boolean; validated: boolean }): Record<string, Response> {
  const { refusals = {} } = answer;
  const validation = [...(route.validated ? ["VALIDATION_ERROR"] : []), ...(refusals[422] ?? [])];
  const responses: Record<string, Response> = {
    [answer.status]: {
      description: answer.summary,
      ...(answer.location ? { headers: { Location: { description: `The resource: ${answer.location}`, schema: { type: "string" } } } } : {}),
      content: json(schemaRef(answer.schema)),
    },
  };
  if (route.command) responses[400] = refusal(["MALFORMED_JSON", "INVALID_UTF8", "QUERY_NOT_ALLOWED"]);
  if (route.admin) {
    responses[401] = {
      ...refusal(["UNAUTHORIZED"]),
      headers: { "WWW-Authenticate": { description: 'Bearer realm="glitchbuster admin"', schema: { type: "string" } } },
    };
    responses[403] = refusal(["FORBIDDEN"]);
  }
  if (refusals[404]) responses[404] = refusal(refusals[404]);
  if (refusals[409]) responses[409] = refusal(refusals[409]);
  if (route.command) {
    responses[413] = refusal(["PAYLOAD_TOO_LARGE"]);
    responses[415] = refusal(["UNSUPPORTED_MEDIA_TYPE"]);
  }
  if (validation.length > 0) responses[422] = refusal(validation);
  responses[503] = answer.unavailable
    ? { description: "A dependency does not answer", content: json(schemaRef(answer.unavailable)) }
    : refusal(["SERVICE_UNAVAILABLE"]);
  return responses;
}

/** GET /api/live is served beside the aliases (live-feed.ts), not by an action. */
const LIVE_OPERATION: Operation = {
  operationId: "live",
  tags: ["api"],
  summary: "The dashboard's feed: server-sent events, a snapshot of orders, breakers, chaos, sagas and the DLQ every second",
  responses: {
    200: { description: "An event stream, one `data:` line of JSON per second", content: { "text/event-stream": { schema: { type: "string" } } } },
    503: {
      ...refusal(["LIVE_FEED_FULL"]),
      headers: { "Retry-After": { description: "Seconds to wait before opening another feed", schema: { type: "integer" } } },
    },
  },
};

/** Every action of these schemas by its full name, with its params (undefined when it has none); a schema's own actions override its mixins'. */
function actionsOf(sources: readonly ActionsSource[]): Map<string, unknown> {
  const actions = new Map<string, unknown>();
  const collect = (name: string, source: ActionsSource) => {
    for (const mixin of source.mixins ?? []) collect(name, mixin);
    const definitions: [string, unknown][] = Object.entries(source.actions ?? {});
    for (const [action, definition] of definitions) {
      const params: unknown = typeof definition === "object" && definition !== null && "params" in definition ? definition.params : undefined;
      actions.set(`${name}.${action}`, params);
    }
  };
  for (const source of sources) {
    if (!source.name) throw new Error("a service schema without a name names no action");
    collect(source.name, source);
  }
  return actions;
}

/**
 * The services whose actions the routes name, besides the gateway. Their actions' params
 * depend on no option: the schemas are built from config.ts's defaults, read, and dropped
 * (building one opens nothing; its lifecycle handlers never run).
 */
function routedServices(): ActionsSource[] {
  const config = loadConfig({ EVENT_STORE_URL: "memory:openapi" });
  const bus = { url: config.busUrl, namespace: config.busNamespace };
  return [
    ordersService({ eventStoreUrl: config.eventStoreUrl }),
    orchestratorService({
      eventStoreUrl: config.eventStoreUrl,
      bus,
      consume: { prefetch: config.busPrefetch, retry: config.busRetry },
      limits: config.saga,
    }),
    dlqService({ eventStoreUrl: config.eventStoreUrl, bus }),
    tracesService(),
  ];
}

function packageVersion(): string {
  const manifest: unknown = JSON.parse(readFileSync(join(projectRoot(), "package.json"), "utf8"));
  const version = typeof manifest === "object" && manifest !== null && "version" in manifest ? manifest.version : undefined;
  if (typeof version !== "string") throw new Error("package.json has no version");
  return version;
}

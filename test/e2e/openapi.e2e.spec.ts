import Ajv2020 from "ajv/dist/2020";
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { OpenApiDocument } from "../../services/api/openapi";
import { projectRoot } from "../../services/api/project-root";
import { ADMIN_ALIASES, PUBLIC_ALIASES } from "../../services/api/routes";
import { EmbeddedApp, startEmbeddedApp } from "../support/embedded-app";
import { waitFor } from "../../tools/wait-for";

const TOKEN = "openapi-admin-token";
const ADMIN = { Authorization: `Bearer ${TOKEN}` };
const JSON_TYPE = { "Content-Type": "application/json" };
const placement = { customerId: "c-openapi", currency: "EUR", items: [{ productId: "book", quantity: 2, unitPrice: 1250 }] };
const DOCUMENT_ID = "https://glitchbuster.invalid/api/openapi.json";

interface Answer {
  status: number;
  headers: Headers;
  body: unknown;
}

/**
 * What @seriousme/openapi-schema-validator says of a document: the official schema of its
 * OpenAPI version (3.1's with JSON Schema 2020-12), then every $ref resolved. It is an ES module,
 * which Jest here (no --experimental-vm-modules) cannot load: it runs in a Node of its own.
 */
async function validateOpenApi(document: unknown): Promise<{ valid: boolean; version?: string; errors?: unknown }> {
  const script = [
    'import { Validator } from "@seriousme/openapi-schema-validator";',
    'let input = "";',
    "for await (const chunk of process.stdin) input += chunk;",
    "const validator = new Validator();",
    "const result = await validator.validate(JSON.parse(input));",
    "process.stdout.write(JSON.stringify({ ...result, version: validator.version }));",
  ].join("\n");
  const child = spawn(process.execPath, ["--input-type=module", "-e", script], { cwd: projectRoot(), stdio: ["pipe", "pipe", "inherit"] });
  child.stdin.end(JSON.stringify(document));
  let output = "";
  for await (const chunk of child.stdout) output += String(chunk);
  return JSON.parse(output);
}

/** A JSON pointer into the document, as a URI fragment. */
const pointer = (...segments: string[]) => segments.map((segment) => encodeURIComponent(segment.replace(/~/g, "~0").replace(/\//g, "~1"))).join("/");

describe("GET /api/openapi.json: the OpenAPI 3.1 document of the REST API (embedded app)", () => {
  let app: EmbeddedApp;
  let served: Answer;
  let document: OpenApiDocument;
  let ajv: Ajv2020;

  beforeAll(async () => {
    app = await startEmbeddedApp({
      env: {
        ADMIN_TOKEN: TOKEN,
        // A message dies after two deliveries of one call each: a dead letter in a few milliseconds.
        BUS_RETRY_ATTEMPTS: "2",
        BUS_RETRY_BASE_MS: "10",
        BUS_RETRY_MAX_MS: "20",
        RETRY_RETRIES: "0",
        BUS_NAMESPACE: `test-${randomUUID()}`,
      },
    });
    served = await call("GET", "/openapi.json");
    document = served.body as OpenApiDocument;
    // Strict: a schema of the document with a keyword JSON Schema does not have fails to compile.
    ajv = new Ajv2020({
      strict: true,
      formats: {
        "date-time": /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/,
        uuid: /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i,
      },
    });
    // The members of an OpenAPI document around its schemas: not JSON Schema keywords, only a way to reach them.
    ajv.addVocabulary(["openapi", "info", "servers", "paths", "components"]);
    ajv.addSchema(document, DOCUMENT_ID);
  });
  afterAll(() => app.stop());

  async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
    const response = await fetch(`${app.baseUrl}${path}`, {
      method,
      body: body === undefined ? undefined : JSON.stringify(body),
      headers: body === undefined ? headers : { ...JSON_TYPE, ...headers },
    });
    const text = await response.text();
    return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : undefined };
  }

  /** What the document's schema for this route and this status finds wrong with the answer's body: [] when it matches. */
  function mismatches(method: string, template: string, answer: Answer): unknown[] {
    const response = document.paths[template]?.[method as "get"]?.responses[String(answer.status)];
    if (!response) return [`${method.toUpperCase()} ${template} does not document a ${answer.status}`];
    const validate = ajv.compile({
      $ref: `${DOCUMENT_ID}#/${pointer("paths", template, method, "responses", String(answer.status), "content", "application/json", "schema")}`,
    });
    return validate(answer.body) ? [] : (validate.errors ?? []);
  }

  it("is public JSON, and a valid OpenAPI 3.1 document (the official 3.1 schema, every $ref resolved)", async () => {
    const broken = { ...document, paths: { ...document.paths, "/broken": { get: { responses: { 200: { content: {} } } } } } };

    expect(served.status).toBe(200);
    expect(served.headers.get("content-type")).toMatch(/^application\/json/);
    expect(await validateOpenApi(document)).toEqual({ valid: true, version: "3.1" });
    // The validator does refuse: a response without its description.
    expect(await validateOpenApi(broken)).toMatchObject({ valid: false, version: "3.1" });
  });

  it("holds schemas that compile as JSON Schema 2020-12 in strict mode (no keyword it does not know), each of them", () => {
    const locations = [
      ...Object.keys(document.components.schemas).map((name) => ["components", "schemas", name]),
      ...Object.entries(document.paths).flatMap(([path, item]) =>
        Object.entries(item).flatMap(([method, operation]) => [
          ...(operation.parameters ?? []).map((_parameter, index) => ["paths", path, method, "parameters", String(index), "schema"]),
          ...Object.keys(operation.requestBody?.content ?? {}).map((type) => ["paths", path, method, "requestBody", "content", type, "schema"]),
          ...Object.entries(operation.responses).flatMap(([status, response]) =>
            Object.keys(response.content ?? {}).map((type) => ["paths", path, method, "responses", status, "content", type, "schema"]),
          ),
        ]),
      ),
    ];

    const failures = locations.flatMap((location) => {
      try {
        ajv.compile({ $ref: `${DOCUMENT_ID}#/${pointer(...location)}` });
        return [];
      } catch (error) {
        return [`${location.join(" ")}: ${(error as Error).message}`];
      }
    });

    expect(locations.length).toBeGreaterThan(100);
    expect(failures).toEqual([]);
  });

  it("describes every route of routes.ts and the live feed, and nothing else; the admin ones, and only they, need the bearer token", () => {
    const documented = Object.entries(document.paths).flatMap(([path, item]) =>
      Object.entries(item).map(([method, operation]) => ({
        route: `${method.toUpperCase()} ${path.replace(/\{([^}]+)\}/g, ":$1")}`,
        admin: operation.security !== undefined,
      })),
    );
    const declared = [
      ...Object.keys(PUBLIC_ALIASES).map((route) => ({ route, admin: false })),
      ...Object.keys(ADMIN_ALIASES).map((route) => ({ route, admin: true })),
      { route: "GET /live", admin: false },
    ];

    const byRoute = (a: { route: string }, b: { route: string }) => a.route.localeCompare(b.route);
    expect(documented.sort(byRoute)).toEqual(declared.sort(byRoute));
    expect(document.components.securitySchemes).toEqual({ adminToken: { type: "http", scheme: "bearer", description: expect.any(String) } });
    expect(document.paths["/dlq/{id}"]?.patch?.security).toEqual([{ adminToken: [] }]);
  });

  it("takes each route's params from its action's validator: path, query, header and body", () => {
    const operations = Object.entries(document.paths).flatMap(([path, item]) => Object.values(item).map((operation) => ({ path, operation })));
    for (const { path, operation } of operations) {
      const inPath = (operation.parameters ?? []).filter((parameter) => parameter.in === "path").map((parameter) => parameter.name);
      expect([path, inPath]).toEqual([path, [...path.matchAll(/\{([^}]+)\}/g)].map((match) => match[1])]);
    }
    const list = document.paths["/orders"]?.get;
    expect(list?.parameters?.map(({ name, in: where, required }) => [name, where, required])).toEqual([
      ["status", "query", false],
      ["customerId", "query", false],
      ["limit", "query", false],
      ["cursor", "query", false],
    ]);
    expect(list?.parameters?.find((parameter) => parameter.name === "limit")?.schema).toEqual({ type: "integer", minimum: 1, maximum: 100 });
    const create = document.paths["/orders"]?.post;
    expect(create?.parameters).toEqual([{ name: "Idempotency-Key", in: "header", required: false, schema: expect.objectContaining({ maxLength: 255 }) }]);
    expect(create?.requestBody).toEqual({
      required: true,
      content: {
        "application/json": {
          schema: expect.objectContaining({ required: ["customerId", "currency", "items"], additionalProperties: false }),
        },
      },
    });
    expect(Object.keys(create?.requestBody?.content["application/json"]?.schema.properties ?? {})).toEqual(["customerId", "currency", "items"]);
    expect(document.paths["/chaos/{service}"]?.put?.requestBody?.content["application/json"]?.schema).toEqual({
      type: "object",
      properties: {
        failureRate: { type: "number", minimum: 0, maximum: 1 },
        latencyMs: { type: "integer", minimum: 0, maximum: 600000 },
        mode: { enum: ["error", "timeout"] },
      },
      additionalProperties: false,
    });
  });

  it("documents the success status of each kind of route: 201 with Location to create, 202 with Location for jobs, rebuilds and saga actions", () => {
    const successOf = (path: string, method: "get" | "post" | "delete") => {
      const responses = document.paths[path]?.[method]?.responses ?? {};
      const status = Object.keys(responses).find((code) => code.startsWith("2"));
      return [status, status === undefined ? undefined : Object.keys(responses[status]?.headers ?? {})];
    };

    expect(successOf("/orders", "post")).toEqual(["201", ["Location"]]);
    expect(successOf("/orders/{id}", "get")).toEqual(["200", []]);
    expect(successOf("/dlq/replay", "post")).toEqual(["202", ["Location"]]);
    expect(successOf("/dlq/groups/{group}/purge", "post")).toEqual(["202", ["Location"]]);
    expect(successOf("/projections/sagas/rebuild", "post")).toEqual(["202", ["Location"]]);
    expect(successOf("/sagas/{orderId}/retry", "post")).toEqual(["202", ["Location"]]);
    expect(successOf("/dlq/{id}", "delete")).toEqual(["200", []]);
  });

  it("matches the real answers of the orders routes: 201 on create, one order, the list, a 422", async () => {
    const created = await call("POST", "/orders", placement);
    const invalid = await call("POST", "/orders", { ...placement, currency: "eur", items: [] });

    expect(created.status).toBe(201);
    expect(created.headers.get("location")).toBe(`/api/orders/${(created.body as { id: string }).id}`);
    expect(mismatches("post", "/orders", created)).toEqual([]);
    expect(mismatches("get", "/orders/{id}", await call("GET", `/orders/${(created.body as { id: string }).id}`))).toEqual([]);
    expect(mismatches("get", "/orders", await call("GET", "/orders?limit=5"))).toEqual([]);
    expect(mismatches("get", "/orders/{id}/events", await call("GET", `/orders/${(created.body as { id: string }).id}/events`))).toEqual([]);
    expect(invalid).toMatchObject({ status: 422, body: { type: "VALIDATION_ERROR" } });
    expect(mismatches("post", "/orders", invalid)).toEqual([]);
  });

  it("matches the real 401 and 403 of an admin route", async () => {
    const without = await call("PUT", "/chaos/payments", { failureRate: 1 });
    const wrong = await call("PUT", "/chaos/payments", { failureRate: 1 }, { Authorization: "Bearer nope" });

    expect([without.status, wrong.status]).toEqual([401, 403]);
    expect(mismatches("put", "/chaos/{service}", without)).toEqual([]);
    expect(mismatches("put", "/chaos/{service}", wrong)).toEqual([]);
  });

  it("matches the real answers of the saga routes", async () => {
    const { id } = (await call("POST", "/orders", placement)).body as { id: string };
    const saga = await waitFor(async () => {
      const answer = await call("GET", `/sagas/${id}`);
      return (answer.body as { status?: string }).status === "ended" ? answer : undefined;
    });
    const sagas = await call("GET", "/sagas?limit=5");

    expect(sagas.status).toBe(200);
    expect((sagas.body as { items: unknown[] }).items).not.toEqual([]);
    expect(mismatches("get", "/sagas", sagas)).toEqual([]);
    expect(mismatches("get", "/sagas/{orderId}", saga)).toEqual([]);
    expect(mismatches("get", "/sagas/{orderId}", await call("GET", `/sagas/${randomUUID()}`))).toEqual([]);
  });

  it("matches the real answers of the DLQ routes once a message died", async () => {
    await call("PUT", "/chaos/antifraud", { failureRate: 1 }, ADMIN);
    const { id: orderId } = (await call("POST", "/orders", placement)).body as { id: string };
    const listed = await waitFor(async () => {
      const answer = await call("GET", "/dlq?status=dead");
      return (answer.body as { items: { orderId: string }[] }).items.some((entry) => entry.orderId === orderId) ? answer : undefined;
    });
    await call("PUT", "/chaos/antifraud", { failureRate: 0 }, ADMIN);
    const groups = await call("GET", "/dlq/groups");
    const [entry] = (listed.body as { items: { id: string }[] }).items;

    expect((groups.body as { items: unknown[] }).items).toHaveLength(1);
    expect(mismatches("get", "/dlq/groups", groups)).toEqual([]);
    expect(mismatches("get", "/dlq", listed)).toEqual([]);
    expect(mismatches("get", "/dlq/{id}", await call("GET", `/dlq/${entry?.id}`))).toEqual([]);
  });

  it("matches the real answers of the operators' read routes", async () => {
    for (const [template, path] of [
      ["/chaos", "/chaos"],
      ["/health", "/health"],
      ["/resilience", "/resilience"],
      ["/projections/orders", "/projections/orders"],
      ["/dlq/jobs", "/dlq/jobs"],
    ] as const) {
      const answer = await call("GET", path);
      expect([path, answer.status, mismatches("get", template, answer)]).toEqual([path, 200, []]);
    }
  });
});

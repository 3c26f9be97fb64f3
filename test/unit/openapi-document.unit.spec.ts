import { apiService } from "../../services/api.service";
import { openApiDocument } from "../../services/api/openapi";

const gateway = apiService({ port: 0, ip: "127.0.0.1", adminTokens: [], corsOrigins: [], liveMaxClients: 1 });
/** The gateway with its setChaos action's params replaced. */
const gatewayWithChaosParams = (params: object) => ({ ...gateway, actions: { ...gateway.actions, setChaos: { params, handler: () => ({}) } } });

describe("the OpenAPI document, built from the routes' own validators", () => {
  it("takes a param added to an action's validator into the route's body, without another change", () => {
    const document = openApiDocument(
      gatewayWithChaosParams({ $$strict: true, service: { type: "enum", values: ["antifraud", "payments"] }, burst: { type: "boolean", optional: true } }),
    );

    expect(document.paths["/chaos/{service}"]?.put?.requestBody).toEqual({
      required: false,
      content: { "application/json": { schema: { type: "object", properties: { burst: { type: "boolean" } }, additionalProperties: false } } },
    });
    expect(document.paths["/chaos/{service}"]?.put?.parameters).toEqual([
      { name: "service", in: "path", required: true, schema: { enum: ["antifraud", "payments"] } },
    ]);
  });

  it("refuses to build when a route's action uses a rule it cannot convert, naming the action and the field", () => {
    expect(() => openApiDocument(gatewayWithChaosParams({ $$strict: true, service: { type: "email" } }))).toThrow(
      'api.setChaos.service: the fastest-validator rule type "email" has no JSON Schema conversion',
    );
  });

  it("refuses to build when a route's path names a param its action does not validate", () => {
    expect(() => openApiDocument(gatewayWithChaosParams({ $$strict: true, failureRate: { type: "number" } }))).toThrow(
      "PUT /chaos/:service: :service is no param of api.setChaos",
    );
  });

  it("refuses to build when a route names an action no service has", () => {
    expect(() => openApiDocument({ ...gateway, actions: {} })).toThrow("GET /chaos: no service schema has the action api.chaos");
  });
});

import Ajv2020 from "ajv/dist/2020";
import Validator from "fastest-validator";
import { objectSchema, paramsFields } from "../../services/api/openapi/params-schema";
import { CURRENCY_RULE, ORDER_ITEMS_RULE } from "../../services/shared/order-rules";
import { typedText } from "../../services/shared/typed-text";

const schemaOf = (params: object) => {
  const { fields, closed } = paramsFields(params, "test.action");
  return objectSchema(fields, closed);
};

describe("fastest-validator params as JSON Schema (the OpenAPI document's request schemas)", () => {
  it("converts each rule type the services use, with its bounds", () => {
    expect(
      schemaOf({
        $$strict: true,
        name: { type: "string", min: 1, max: 20, pattern: /^[a-z]+$/ },
        id: { type: "uuid" },
        limit: { type: "number", integer: true, min: 1, max: 100, convert: true, optional: true },
        rate: { type: "number", min: 0, max: 1 },
        mode: { type: "enum", values: ["error", "timeout"] },
        on: { type: "boolean", optional: true },
        kind: { type: "equal", value: "replay", strict: true },
        tags: { type: "array", min: 1, max: 3, items: { type: "string", max: 5 } },
        value: { type: "any", optional: true },
        note: { type: "string", nullable: true, optional: true },
      }),
    ).toEqual({
      type: "object",
      properties: {
        name: { type: "string", minLength: 1, maxLength: 20, pattern: "^[a-z]+$" },
        id: { type: "string", format: "uuid" },
        limit: { type: "integer", minimum: 1, maximum: 100 },
        rate: { type: "number", minimum: 0, maximum: 1 },
        mode: { enum: ["error", "timeout"] },
        on: { type: "boolean" },
        kind: { const: "replay" },
        tags: { type: "array", minItems: 1, maxItems: 3, items: { type: "string", maxLength: 5 } },
        value: {},
        note: { anyOf: [{ type: "string" }, { type: "null" }] },
      },
      required: ["name", "id", "rate", "mode", "kind", "tags"],
      additionalProperties: false,
    });
  });

  it('closes an object with strict: true, leaves it open with strict: "remove" (extra members are dropped, not refused), and keeps the rule\'s message', () => {
    expect(
      schemaOf({
        closed: { type: "object", strict: true, props: { a: { type: "string" } } },
        open: { type: "object", strict: "remove", props: { b: { type: "string", optional: true } } },
        currency: CURRENCY_RULE,
      }),
    ).toEqual({
      type: "object",
      properties: {
        closed: { type: "object", properties: { a: { type: "string" } }, required: ["a"], additionalProperties: false },
        open: { type: "object", properties: { b: { type: "string" } } },
        currency: { type: "string", pattern: "^[A-Z]{3}$", description: "must be an ISO 4217 code of three capital letters." },
      },
      required: ["closed", "open", "currency"],
    });
  });

  it.each([
    ["a rule type it does not know", { email: { type: "email" } }, /rule type "email" has no JSON Schema conversion/],
    ["an option it does not know", { name: { type: "string", trim: true } }, /the option\(s\) trim of a string rule/],
    ["a rule in shorthand", { name: "string|min:3" }, /only rules in object form/],
    ["a pattern whose flags change its meaning", { name: { type: "string", pattern: /^a$/i } }, /only a pattern without flags/],
    ["a params option it does not know", { $$async: true }, /the params option \$\$async is not converted/],
    ["a rule without a type", { name: { min: 1 } }, /rule type undefined/],
  ])("refuses %s, naming where", (_what, params, message) => {
    expect(() => schemaOf(params)).toThrow(message);
  });

  it("accepts and refuses what fastest-validator does, for the order a client places", () => {
    const params = { $$strict: true, customerId: typedText(64), currency: CURRENCY_RULE, items: ORDER_ITEMS_RULE } as const;
    const checkWithFastestValidator = new Validator().compile(params);
    const checkWithJsonSchema = new Ajv2020({ strict: true }).compile(schemaOf(params));
    const line = { productId: "book", quantity: 2, unitPrice: 1250 };
    const bodies: [string, unknown][] = [
      ["a valid order", { customerId: "c-1", currency: "EUR", items: [line] }],
      ["a lower-case currency", { customerId: "c-1", currency: "eur", items: [line] }],
      ["no line", { customerId: "c-1", currency: "EUR", items: [] }],
      ["an unknown field", { customerId: "c-1", currency: "EUR", items: [line], coupon: "x" }],
      ["a line with an unknown field", { customerId: "c-1", currency: "EUR", items: [{ ...line, colour: "red" }] }],
      ["a fractional quantity", { customerId: "c-1", currency: "EUR", items: [{ ...line, quantity: 1.5 }] }],
      ["a control character in a name", { customerId: "c-\u0007", currency: "EUR", items: [line] }],
      ["a lone surrogate in a name", { customerId: "c-\ud800", currency: "EUR", items: [line] }],
      ["an empty name", { customerId: "", currency: "EUR", items: [line] }],
      ["no customer", { currency: "EUR", items: [line] }],
    ];

    const verdicts = bodies.map(([what, body]) => [what, checkWithFastestValidator(structuredClone(body)) === true, checkWithJsonSchema(body)]);

    expect(verdicts).toEqual(bodies.map(([what], index) => [what, index === 0, index === 0]));
  });
});

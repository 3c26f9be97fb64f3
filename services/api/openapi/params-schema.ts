import { JsonSchema } from "./json-schema";

/** A fastest-validator rule in its object form, the only form the services use. */
type Rule = Readonly<Record<string, unknown>>;

/** One field of an action's params: its JSON Schema, and whether it may be left out. */
export interface ParamsField {
  name: string;
  schema: JsonSchema;
  optional: boolean;
}

/** An action's params as JSON Schema fields; `closed` when `$$strict: true` refuses any other field. */
export interface ParamsFields {
  fields: ParamsField[];
  closed: boolean;
}

/** Keys every rule may carry: they shape the answer to a bad value, not the value itself. */
const COMMON_KEYS = ["type", "optional", "nullable", "messages"];

/**
 * The options each rule type may use, as this converter knows them: any other option (or any
 * other type) is refused, so that a rule the document would describe wrongly fails the build
 * of the document instead of being left out of it.
 */
const KNOWN_OPTIONS = {
  string: ["min", "max", "pattern"],
  uuid: [],
  number: ["min", "max", "integer", "convert"],
  boolean: ["convert"],
  enum: ["values"],
  equal: ["value", "strict"],
  array: ["items", "min", "max"],
  object: ["props", "strict"],
  any: [],
} as const satisfies Record<string, readonly string[]>;

type RuleType = keyof typeof KNOWN_OPTIONS;

const isRuleType = (type: unknown): type is RuleType => typeof type === "string" && Object.hasOwn(KNOWN_OPTIONS, type);

const isRule = (value: unknown): value is Rule => typeof value === "object" && value !== null && !Array.isArray(value) && !(value instanceof RegExp);

/** The fields of a fastest-validator `params` schema (`$$strict` included), as JSON Schema. */
export function paramsFields(params: unknown, at: string): ParamsFields {
  if (!isRule(params)) throw new Error(`${at}: params are not a fastest-validator schema object`);
  const fields: ParamsField[] = [];
  let closed = false;
  for (const [name, rule] of Object.entries(params)) {
    if (name === "$$strict") {
      if (rule !== true && rule !== "remove") throw new Error(`${at}: $$strict ${JSON.stringify(rule)} is not converted`);
      closed = rule === true;
      continue;
    }
    if (name.startsWith("$$")) throw new Error(`${at}: the params option ${name} is not converted`);
    fields.push(fieldOf(name, rule, `${at}.${name}`));
  }
  return { fields, closed };
}

/** The object schema of some fields: what a JSON body of them, or a whole params schema, looks like. */
export function objectSchema(fields: readonly ParamsField[], closed: boolean): JsonSchema {
  const required = fields.filter((field) => !field.optional).map((field) => field.name);
  return {
    type: "object",
    properties: Object.fromEntries(fields.map((field) => [field.name, field.schema])),
    ...(required.length > 0 ? { required } : {}),
    ...(closed ? { additionalProperties: false } : {}),
  };
}

function fieldOf(name: string, rule: unknown, at: string): ParamsField {
  if (!isRule(rule)) throw new Error(`${at}: only rules in object form are converted (not ${JSON.stringify(rule)})`);
  const schema = ruleSchema(rule, at);
  return { name, schema, optional: rule.optional === true };
}

/** One rule as JSON Schema; throws on a rule type or an option it does not know. */
function ruleSchema(rule: Rule, at: string): JsonSchema {
  const type = rule.type;
  if (!isRuleType(type)) {
    throw new Error(`${at}: the fastest-validator rule type ${JSON.stringify(type)} has no JSON Schema conversion (services/api/openapi/params-schema.ts)`);
  }
  const known: readonly string[] = KNOWN_OPTIONS[type];
  const unknown = Object.keys(rule).filter((key) => !COMMON_KEYS.includes(key) && !known.includes(key));
  if (unknown.length > 0) throw new Error(`${at}: the option(s) ${unknown.join(", ")} of a ${type} rule have no JSON Schema conversion`);
  const schema = { ...typedSchema(type, rule, at), ...descriptionOf(rule, at) };
  return rule.nullable === true ? { anyOf: [schema, { type: "null" }] } : schema;
}

function typedSchema(type: RuleType, rule: Rule, at: string): JsonSchema {
  switch (type) {
    case "string":
      return { type: "string", ...lengths(rangeOf(rule, at)), ...patternOf(rule.pattern, at) };
    case "uuid":
      return { type: "string", format: "uuid" };
    case "number":
      return { type: rule.integer === true ? "integer" : "number", ...limits(rangeOf(rule, at)) };
    case "boolean":
      return { type: "boolean" };
    case "enum": {
      if (!Array.isArray(rule.values) || rule.values.length === 0) throw new Error(`${at}: an enum rule needs its values`);
      const values: unknown[] = rule.values;
      return { enum: [...values] };
    }
    case "equal":
      return { const: rule.value };
    case "array": {
      const items = rule.items === undefined ? {} : isRule(rule.items) ? ruleSchema(rule.items, `${at}[]`) : undefined;
      if (items === undefined) throw new Error(`${at}: only array items in object form are converted`);
      return { type: "array", items, ...counts(rangeOf(rule, at)) };
    }
    case "object": {
      if (rule.props === undefined) return { type: "object" };
      if (rule.strict !== undefined && rule.strict !== true && rule.strict !== "remove")
        throw new Error(`${at}: strict ${JSON.stringify(rule.strict)} is not converted`);
      const { fields } = paramsFields(rule.props, at);
      // strict "remove" drops the members it does not know: they are taken, not refused.
      return objectSchema(fields, rule.strict === true);
    }
    case "any":
      return {};
    default: {
      const unknown: never = type;
      throw new Error(`${at}: the rule type ${String(unknown)} has no case`);
    }
  }
}

interface Range {
  min?: number;
  max?: number;
}

function rangeOf(rule: Rule, at: string): Range {
  const bound = (key: "min" | "max") => {
    const value = rule[key];
    if (value !== undefined && typeof value !== "number") throw new Error(`${at}: ${key} must be a number`);
    return value === undefined ? {} : { [key]: value };
  };
  return { ...bound("min"), ...bound("max") };
}

const lengths = ({ min, max }: Range): JsonSchema => ({ ...(min === undefined ? {} : { minLength: min }), ...(max === undefined ? {} : { maxLength: max }) });
const counts = ({ min, max }: Range): JsonSchema => ({ ...(min === undefined ? {} : { minItems: min }), ...(max === undefined ? {} : { maxItems: max }) });
const limits = ({ min, max }: Range): JsonSchema => ({ ...(min === undefined ? {} : { minimum: min }), ...(max === undefined ? {} : { maximum: max }) });

/** JSON Schema patterns are ECMA-262 with the `u` flag (as OpenAPI tools run them): any other flag would change their meaning. */
function patternOf(pattern: unknown, at: string): JsonSchema {
  if (pattern === undefined) return {};
  if (typeof pattern === "string") return { pattern };
  if (pattern instanceof RegExp && (pattern.flags === "" || pattern.flags === "u")) return { pattern: pattern.source };
  throw new Error(
    `${at}: only a pattern without flags (or with u) is converted, not ${pattern instanceof RegExp ? pattern.toString() : JSON.stringify(pattern)}`,
  );
}

/** The rule's own words for a value it refuses, e.g. "must be an ISO 4217 code of three capital letters". */
function descriptionOf(rule: Rule, at: string): JsonSchema {
  if (rule.messages === undefined) return {};
  if (!isRule(rule.messages)) throw new Error(`${at}: messages must be an object`);
  const texts = Object.values(rule.messages).filter((text): text is string => typeof text === "string");
  return texts.length === 0 ? {} : { description: texts.map((text) => text.replace(/^The '\{field\}' field /, "")).join(" ") };
}

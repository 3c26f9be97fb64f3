/**
 * JSON Schema 2020-12 (the dialect of OpenAPI 3.1), as far as the document uses it: the
 * actions' params turned into schemas (params-schema.ts) and the answers written by hand
 * (response-schemas.ts).
 */
export interface JsonSchema {
  type?: JsonType | JsonType[];
  description?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  minItems?: number;
  maxItems?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  format?: string;
  minimum?: number;
  maximum?: number;
  enum?: readonly unknown[];
  const?: unknown;
  anyOf?: JsonSchema[];
  $ref?: string;
}

export type JsonType = "string" | "number" | "integer" | "boolean" | "array" | "object" | "null";

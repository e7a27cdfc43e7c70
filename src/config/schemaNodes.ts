/**
 * The building blocks of the config schema: the node type and small constructors. The core
 * schema (`schema.ts`) and each connector's section schema (`bridges/<x>/config.ts`) are
 * written with these, so every section is validated, documented and sampled the same way.
 */

/** One node of the schema; only the keywords this project uses. */
export interface SchemaNode {
  type?: "object" | "string" | "integer" | "number" | "boolean" | "array" | Array<"string" | "integer">;
  description?: string;
  default?: unknown;
  examples?: unknown[];
  enum?: string[];
  const?: unknown;
  pattern?: string;
  minLength?: number;
  minimum?: number;
  maximum?: number;
  properties?: Record<string, SchemaNode>;
  required?: string[];
  additionalProperties?: boolean | SchemaNode;
  propertyNames?: SchemaNode;
  items?: SchemaNode;
  if?: SchemaNode;
  then?: SchemaNode;
  allOf?: SchemaNode[];
  "x-expected"?: string;
  "x-required-when"?: string;
  "x-sample-commented"?: boolean;
  "x-sample-comment"?: string[];
  "x-sample-hidden"?: boolean;
}

export const HTTP_URL = "^https?://[^\\s/?#]+(/[^\\s?#]*)?$";

/** A Matrix user id, as `owner` keys take it. */
export const MXID = "^@[^:\\s]+:\\S+$";

export function str(description: string, extra: Partial<SchemaNode> = {}): SchemaNode {
  return { type: "string", description, ...extra };
}
export function int(description: string, dflt: number, minimum: number, maximum?: number): SchemaNode {
  const node: SchemaNode = { type: "integer", description, default: dflt, minimum };
  if (maximum !== undefined) node.maximum = maximum;
  return node;
}
/** A number that may have a fraction (`0.5` minutes). */
export function num(description: string, dflt: number, minimum: number): SchemaNode {
  return { type: "number", description, default: dflt, minimum };
}
export function bool(description: string, dflt: boolean): SchemaNode {
  return { type: "boolean", description, default: dflt };
}
export function section(
  description: string,
  properties: Record<string, SchemaNode>,
  extra: Partial<SchemaNode> = {},
): SchemaNode {
  return { type: "object", description, default: {}, properties, additionalProperties: false, ...extra };
}
export function list(description: string, items: SchemaNode): SchemaNode {
  return { type: "array", description, default: [], items };
}

/**
 * What a connector declares about its `platforms.<name>` section: its keys (each with a
 * description, and a default where there is one) and the rules between them. The core adds
 * the common keys (`enabled`, prefixes, `module`), validates the section at load time and
 * renders it, commented out, into config.sample.yaml.
 */
export interface ConnectorConfigSchema {
  /** One line on what the platform needs (shown above the section in the sample). */
  description: string;
  properties: Record<string, SchemaNode>;
  /**
   * Keys needed when another one is set (or has `whenValue`): `{ when: "bot_token", need: ["owner"] }`.
   * Each needed key says why in its `x-required-when`.
   */
  requires?: Array<{ when: string; whenValue?: unknown; need: string[] }>;
}

/** The schema node of a connector's section, its keys checked strictly; shared keys merged in. */
export function connectorSectionNode(
  schema: ConnectorConfigSchema,
  common: Record<string, SchemaNode>,
  base: SchemaNode,
): SchemaNode {
  const properties: Record<string, SchemaNode> = { ...common };
  for (const [k, v] of Object.entries(schema.properties))
    properties[k] = { ...v, "x-sample-commented": true };
  const node: SchemaNode = { ...base, properties, additionalProperties: false };
  const rules = (schema.requires ?? []).map(
    (r): SchemaNode => ({
      if: {
        type: "object",
        properties: { [r.when]: r.whenValue === undefined ? {} : { const: r.whenValue } },
        required: [r.when],
      },
      // biome-ignore lint/suspicious/noThenProperty: the JSON schema keyword, never awaited
      then: { type: "object", required: r.need },
    }),
  );
  if (rules.length === 1) Object.assign(node, rules[0]);
  else if (rules.length > 1) node.allOf = rules;
  return node;
}

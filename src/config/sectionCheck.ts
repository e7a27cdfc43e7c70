/**
 * The schema machinery shared by the whole config and by each connector's section: one ajv
 * set-up, and `checkSection`, which a connector's config reader runs on its `platforms.<name>`
 * section (validated, defaults filled) before turning it into its typed config.
 */
import Ajv, { type ValidateFunction } from "ajv";
import { ConfigError } from "./ConfigError";
import { describeAjvErrors } from "./messages";
import { type ConnectorConfigSchema, connectorSectionNode, type SchemaNode } from "./schemaNodes";

/** Annotation keywords ajv must accept in strict mode (see schema.ts). */
export const ANNOTATION_KEYWORDS = [
  "x-expected",
  "x-required-when",
  "x-sample-commented",
  "x-sample-comment",
  "x-sample-hidden",
];

/** The one ajv configuration: every error, defaults filled in, strict about the schema itself. */
export function newAjv(): Ajv {
  const ajv = new Ajv({
    allErrors: true,
    useDefaults: true,
    verbose: true,
    strict: true,
    strictRequired: false,
    allowUnionTypes: true,
  });
  ajv.addVocabulary(ANNOTATION_KEYWORDS);
  return ajv;
}

/** The keys the core adds to every section; a connector's reader passes them through unchecked. */
const COMMON: Record<string, SchemaNode> = { enabled: {}, ghost_prefix: {}, alias_prefix: {}, module: {} };

interface Checker {
  root: SchemaNode;
  validate: ValidateFunction;
}
const checkers = new WeakMap<ConnectorConfigSchema, Map<string, Checker>>();

/** The section's schema placed at `platforms.<platform>`, so errors carry the full key path. */
function checkerFor(schema: ConnectorConfigSchema, platform: string): Checker {
  const byName = checkers.get(schema) ?? new Map<string, Checker>();
  checkers.set(schema, byName);
  const known = byName.get(platform);
  if (known) return known;
  const node = connectorSectionNode(schema, COMMON, { type: "object" });
  const root: SchemaNode = {
    type: "object",
    properties: { platforms: { type: "object", properties: { [platform]: node }, required: [platform] } },
    required: ["platforms"],
  };
  const checker = { root, validate: newAjv().compile(root) };
  byName.set(platform, checker);
  return checker;
}

/**
 * Validates `raw` as the `platforms.<platform>` section described by `schema` and returns a
 * copy with the defaults filled in. Throws `ConfigError` naming every bad key by its path.
 */
export function checkSection(
  schema: ConnectorConfigSchema,
  raw: unknown,
  platform: string,
): Record<string, unknown> {
  const { root, validate } = checkerFor(schema, platform);
  const data = { platforms: { [platform]: raw === undefined || raw === null ? {} : structuredClone(raw) } };
  if (!validate(data)) {
    throw new ConfigError(
      describeAjvErrors(validate.errors ?? [], root, () => undefined),
      `platforms.${platform}`,
    );
  }
  return data.platforms[platform] as Record<string, unknown>;
}

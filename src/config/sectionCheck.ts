/**
 * The schema machinery shared by the whole config and by each connector's section: one ajv
 * set-up, `validatorFor` (the validator of a schema: generated at build time when there is one
 * for exactly that schema, else compiled once), and `checkSection`, which a connector's config
 * reader runs on its `platforms.<name>` section (validated, defaults filled) before turning it
 * into its typed config.
 */
import type Ajv from "ajv";
import type { Options, ValidateFunction } from "ajv";
import { ConfigError } from "./ConfigError";
import { describeAjvErrors } from "./messages";
import { precompiledValidator } from "./precompiled";
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
export const AJV_OPTIONS: Readonly<Options> = {
  allErrors: true,
  useDefaults: true,
  verbose: true,
  strict: true,
  strictRequired: false,
  allowUnionTypes: true,
};

/**
 * An ajv instance with that configuration (`extra` adds options that do not change what is
 * valid, such as `code.source` for generating validators). ajv is loaded on first use: a
 * build with generated validators never needs it.
 */
export function newAjv(extra: Options = {}): Ajv {
  const { default: AjvClass } = require("ajv") as typeof import("ajv");
  const ajv = new AjvClass({ ...AJV_OPTIONS, ...extra });
  ajv.addVocabulary(ANNOTATION_KEYWORDS);
  return ajv;
}

let shared: Ajv | undefined;
const validators = new WeakMap<SchemaNode, ValidateFunction>();

/**
 * The validator of `schema`, known as `key` to the validators generated at build time
 * (`buildValidators.ts`): the generated one when it was made from this very schema, else one
 * compiled now, once per schema object, by one shared ajv instance.
 */
export function validatorFor<T = unknown>(key: string, schema: SchemaNode): ValidateFunction<T> {
  let v = validators.get(schema);
  if (!v) {
    v = precompiledValidator(key, schema, AJV_OPTIONS);
    if (!v) {
      shared ??= newAjv();
      v = shared.compile(schema);
    }
    validators.set(schema, v);
  }
  return v as ValidateFunction<T>;
}

/** The keys the core adds to every section; a connector's reader passes them through unchecked. */
const COMMON: Record<string, SchemaNode> = { enabled: {}, ghost_prefix: {}, alias_prefix: {}, module: {} };

/** The key of a section's validator among the generated ones. */
export function sectionKey(platform: string): string {
  return `platforms.${platform}`;
}

/** The section's schema placed at `platforms.<platform>`, so errors carry the full key path. */
export function sectionRoot(schema: ConnectorConfigSchema, platform: string): SchemaNode {
  const node = connectorSectionNode(schema, COMMON, { type: "object" });
  return {
    type: "object",
    properties: { platforms: { type: "object", properties: { [platform]: node }, required: [platform] } },
    required: ["platforms"],
  };
}

const roots = new WeakMap<ConnectorConfigSchema, Map<string, SchemaNode>>();

function rootFor(schema: ConnectorConfigSchema, platform: string): SchemaNode {
  const byName = roots.get(schema) ?? new Map<string, SchemaNode>();
  roots.set(schema, byName);
  let root = byName.get(platform);
  if (!root) {
    root = sectionRoot(schema, platform);
    byName.set(platform, root);
  }
  return root;
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
  const root = rootFor(schema, platform);
  const validate = validatorFor(sectionKey(platform), root);
  const data = { platforms: { [platform]: raw === undefined || raw === null ? {} : structuredClone(raw) } };
  if (!validate(data)) {
    throw new ConfigError(
      describeAjvErrors(validate.errors ?? [], root, () => undefined),
      `platforms.${platform}`,
    );
  }
  return data.platforms[platform] as Record<string, unknown>;
}

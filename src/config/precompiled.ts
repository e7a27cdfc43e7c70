/**
 * Validators generated at build time (`buildValidators.ts`, run by `npm run build`): ajv's
 * standalone code for the schemas every start validates, so a start loads a module instead of
 * compiling JSON schemas. Each one is used only for exactly the schema and ajv options it was
 * generated from (a hash of both is checked); otherwise, and when the module is not there (the
 * sources run under tsx), the caller compiles the schema as before.
 */
import { createHash } from "node:crypto";
import path from "node:path";
import type { Options, ValidateFunction } from "ajv";
import type { SchemaNode } from "./schemaNodes";

/** The generated module, next to this one in the build (`dist/src/config/`). */
export const GENERATED_FILE = "validators.generated.js";
/** The export of the generated module that maps each validator's key to the hash of its schema. */
export const HASHES = "schemaHashes";
/** The key of the whole config's validator. */
export const CONFIG_KEY = "config";

/** What the generated module exports: one validator per key, and the hashes. */
export type GeneratedValidators = Record<string, unknown> & { [HASHES]?: Record<string, string> };

/** Identifies a validator's input: the schema and the ajv options it is compiled with. */
export function schemaHash(schema: SchemaNode, options: Readonly<Options>): string {
  return createHash("sha256")
    .update(JSON.stringify([options, schema]))
    .digest("hex");
}

let loaded: GeneratedValidators | null | undefined;

function generatedModule(): GeneratedValidators | null {
  if (loaded === undefined) {
    try {
      loaded = require(path.join(__dirname, GENERATED_FILE)) as GeneratedValidators;
    } catch {
      // Not built (sources under tsx), or unloadable: compiling the schemas is as correct, only slower.
      loaded = null;
    }
  }
  return loaded;
}

/**
 * The generated validator `key`, if `mod` (default: the generated module) has one made from
 * exactly `schema` with `options`.
 */
export function precompiledValidator(
  key: string,
  schema: SchemaNode,
  options: Readonly<Options>,
  mod: GeneratedValidators | null = generatedModule(),
): ValidateFunction | undefined {
  const validate = mod?.[key];
  if (typeof validate !== "function" || mod?.[HASHES]?.[key] !== schemaHash(schema, options))
    return undefined;
  return validate as ValidateFunction;
}

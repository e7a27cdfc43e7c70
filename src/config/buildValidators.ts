/**
 * Generates the validators of the schemas every start checks (the whole config and each
 * built-in platform's section) as ajv standalone code, so the start loads them instead of
 * compiling. `npm run build` runs the compiled file (`node dist/src/config/buildValidators.js`),
 * which writes `validators.generated.js` next to itself. See precompiled.ts.
 */
import { writeFileSync } from "node:fs";
import path from "node:path";
import standaloneCode from "ajv/dist/standalone";
import { BUILTIN_PLATFORMS } from "../../bridges/builtin";
import { CONFIG_KEY, GENERATED_FILE, HASHES, schemaHash } from "./precompiled";
import { CONFIG_SCHEMA } from "./schema";
import type { SchemaNode } from "./schemaNodes";
import { AJV_OPTIONS, newAjv, sectionKey, sectionRoot } from "./sectionCheck";

/** The schemas a start validates, by the key the loader looks them up with. */
export function startSchemas(): Array<[string, SchemaNode]> {
  return [
    [CONFIG_KEY, CONFIG_SCHEMA],
    ...BUILTIN_PLATFORMS.map((p): [string, SchemaNode] => [
      sectionKey(p.name),
      sectionRoot(p.config, p.name),
    ]),
  ];
}

/** A CommonJS module exporting one validator per key, and their schemas' hashes under `HASHES`. */
export function validatorModuleSource(schemas: Array<[string, SchemaNode]> = startSchemas()): string {
  const ajv = newAjv({ code: { source: true } });
  const refs: Record<string, string> = {};
  const hashes: Record<string, string> = {};
  for (const [key, schema] of schemas) {
    if (key === HASHES) throw new Error(`${HASHES} is not a usable validator key`);
    ajv.addSchema(schema, key);
    refs[key] = key;
    hashes[key] = schemaHash(schema, AJV_OPTIONS);
  }
  return `${standaloneCode(ajv, refs)}\nexports[${JSON.stringify(HASHES)}] = ${JSON.stringify(hashes)};\n`;
}

if (require.main === module) {
  const file = path.join(__dirname, GENERATED_FILE);
  writeFileSync(file, validatorModuleSource());
  console.log(`wrote ${path.relative(process.cwd(), file)}`);
}

import { strict as assert } from "node:assert";
import fs from "node:fs";
import path from "node:path";
import type { ValidateFunction } from "ajv";
import fc from "fast-check";
import yaml from "js-yaml";
import { startSchemas, validatorModuleSource } from "../../../src/config/buildValidators";
import { describeAjvErrors } from "../../../src/config/messages";
import {
  CONFIG_KEY,
  type GeneratedValidators,
  HASHES,
  precompiledValidator,
} from "../../../src/config/precompiled";
import { CONFIG_SCHEMA } from "../../../src/config/schema";
import type { SchemaNode } from "../../../src/config/schemaNodes";
import { AJV_OPTIONS, newAjv, validatorFor } from "../../../src/config/sectionCheck";
import { fuzzParams } from "../../harness/fuzz";

const ROOT = path.resolve(__dirname, "../../..");
const HOMESERVER = { url: "http://127.0.0.1:8008", domain: "localhost" };

/** Loads generated module text as CommonJS, as `require` does with the built file. */
function loadModule(source: string): GeneratedValidators {
  const module = { exports: {} as GeneratedValidators };
  new Function("exports", "require", "module", source)(module.exports, require, module);
  return module.exports;
}

/** As the loader reads YAML: `key:` with nothing after it is not set. */
function withoutNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutNulls);
  if (typeof value !== "object" || value === null) return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([, v]) => v !== null)
      .map(([k, v]) => [k, withoutNulls(v)]),
  );
}

/** Values of the kind `node` describes, mostly right, sometimes wrong, sometimes hostile. */
function valueFor(node: SchemaNode | undefined, depth: number): fc.Arbitrary<unknown> {
  const junk = fc.oneof(
    fc.constant(null),
    fc.boolean(),
    fc.integer({ min: -5, max: 100_000 }),
    fc.double({ noNaN: false }),
    fc.string({ unit: "binary", maxLength: 12 }),
    fc.constant("\u0000\ud800"),
    fc.constant([]),
    fc.constant({}),
  );
  if (!node || depth > 4) return junk;
  const examples = [...(node.examples ?? []), ...(node.default === undefined ? [] : [node.default])];
  const typed: fc.Arbitrary<unknown>[] = examples.map((e) => fc.constant(structuredClone(e)));
  const types = Array.isArray(node.type) ? node.type : node.type ? [node.type] : [];
  for (const t of types) {
    if (t === "string") {
      typed.push(fc.string({ maxLength: 10 }));
      if (node.enum) typed.push(fc.constantFrom(...node.enum));
    }
    if (t === "integer" || t === "number") typed.push(fc.integer({ min: -3, max: 200_000 }));
    if (t === "boolean") typed.push(fc.boolean());
    if (t === "array") typed.push(fc.array(valueFor(node.items, depth + 1), { maxLength: 3 }));
    if (t === "object") typed.push(objectFor(node, depth + 1));
  }
  return typed.length
    ? fc.oneof({ weight: 6, arbitrary: fc.oneof(...typed) }, { weight: 1, arbitrary: junk })
    : junk;
}

/** An object with some of `node`'s keys (and now and then one it does not know). */
function objectFor(node: SchemaNode, depth: number): fc.Arbitrary<Record<string, unknown>> {
  const keys = Object.keys(node.properties ?? {});
  return fc
    .tuple(
      fc
        .subarray(keys, { maxLength: Math.min(10, keys.length) })
        .chain((picked) =>
          fc.record(Object.fromEntries(picked.map((k) => [k, valueFor(node.properties![k], depth)]))),
        ),
      fc.option(
        fc.tuple(fc.constantFrom("levle", "zzz", "__proto__x", "bot_tokn"), valueFor(undefined, depth)),
      ),
    )
    .map(([obj, extra]) => (extra ? { ...obj, [extra[0]]: extra[1] } : obj));
}

describe("config: validators generated at build time", () => {
  const mod = loadModule(validatorModuleSource());
  const schemas = startSchemas();
  /** What every start compiled before: a fresh ajv instance per schema. */
  const compiled = new Map<string, ValidateFunction>(schemas.map(([k, s]) => [k, newAjv().compile(s)]));

  function generated(key: string, schema: SchemaNode): ValidateFunction {
    const v = precompiledValidator(key, schema, AJV_OPTIONS, mod);
    assert.ok(v, `no generated validator for ${key}`);
    return v;
  }

  /** Both validators on copies of `input`: same verdict, same defaults filled in, same errors and texts. */
  function same(key: string, schema: SchemaNode, input: unknown): boolean {
    const a = structuredClone(input);
    const b = structuredClone(input);
    const want = compiled.get(key)!;
    const got = generated(key, schema);
    const ok = want(a);
    assert.equal(got(b), ok, `${key}: verdict for ${JSON.stringify(input)}`);
    assert.deepEqual(b, a, `${key}: filled-in data`);
    assert.deepEqual(got.errors, want.errors, `${key}: errors`);
    assert.deepEqual(
      describeAjvErrors(got.errors ?? [], schema, () => undefined),
      describeAjvErrors(want.errors ?? [], schema, () => undefined),
    );
    return ok;
  }

  it("cover the whole config and every built-in platform's section", () => {
    assert.deepEqual(
      schemas.map(([k]) => k),
      [CONFIG_KEY, "platforms.telegram", "platforms.discord", "platforms.slack", "platforms.whatsapp"],
    );
    for (const [key, schema] of schemas) assert.equal(typeof generated(key, schema), "function", key);
  });

  it("are used only for the very schema and ajv options they were made from", () => {
    const changed = structuredClone(CONFIG_SCHEMA);
    changed.properties!.delivery.properties!.max_attempts.minimum = 2;
    assert.equal(precompiledValidator(CONFIG_KEY, changed, AJV_OPTIONS, mod), undefined);
    assert.equal(
      precompiledValidator(CONFIG_KEY, CONFIG_SCHEMA, { ...AJV_OPTIONS, allErrors: false }, mod),
      undefined,
    );
    assert.equal(precompiledValidator("platforms.telegram", CONFIG_SCHEMA, AJV_OPTIONS, mod), undefined);
    assert.equal(
      precompiledValidator(CONFIG_KEY, CONFIG_SCHEMA, AJV_OPTIONS, { ...mod, [HASHES]: undefined }),
      undefined,
    );
    assert.equal(precompiledValidator(CONFIG_KEY, CONFIG_SCHEMA, AJV_OPTIONS, null), undefined);
  });

  it("without a generated module, each schema is compiled once and gives the same results", () => {
    // The sources (tsx) have no generated module next to them: validatorFor compiles.
    const [key, schema] = schemas[1];
    const v = validatorFor(key, schema);
    assert.equal(validatorFor(key, schema), v, "compiled again");
    const input = { platforms: { telegram: { bot_token: 5, extra: true } } };
    const a = structuredClone(input);
    assert.equal(v(a), same(key, schema, input));
    assert.deepEqual(v.errors, compiled.get(key)!.errors);
  });

  it("accept the sample config and fill the same defaults", () => {
    const sample = withoutNulls(yaml.load(fs.readFileSync(path.join(ROOT, "config.sample.yaml"), "utf8")));
    assert.equal(same(CONFIG_KEY, CONFIG_SCHEMA, sample), true);
    assert.equal(same(CONFIG_KEY, CONFIG_SCHEMA, {}), false, "homeserver is required");
    for (const [key, schema] of schemas.slice(1)) {
      const name = key.slice("platforms.".length);
      assert.equal(same(key, schema, { platforms: { [name]: {} } }), true, key);
      assert.equal(same(key, schema, { platforms: { [name]: { enabled: true, nope: 1 } } }), false, key);
    }
  });

  it("judge fuzzed configs exactly as the compiled schema does (verdict, defaults, errors)", () => {
    fc.assert(
      // Half of them with a valid homeserver section, so that some pass and get their defaults.
      fc.property(objectFor(CONFIG_SCHEMA, 0), fc.boolean(), (input, withHomeserver) => {
        same(CONFIG_KEY, CONFIG_SCHEMA, withHomeserver ? { ...input, homeserver: HOMESERVER } : input);
      }),
      fuzzParams(150),
    );
  });

  for (const [key, schema] of startSchemas().slice(1)) {
    it(`judge fuzzed ${key} sections exactly as the compiled schema does`, () => {
      const section = schema.properties!.platforms.properties![key.slice("platforms.".length)];
      fc.assert(
        fc.property(objectFor(section, 1), (input) => {
          same(key, schema, { platforms: { [key.slice("platforms.".length)]: input } });
        }),
        fuzzParams(100),
      );
    });
  }
});

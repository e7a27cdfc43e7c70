import yaml from "js-yaml";
import { formatPath, schemaAt } from "./messages";
import type { SchemaNode } from "./schema";

/** Prefix of configuration overrides: `CLAWBRIDGE_<SECTION>__<KEY>[__<KEY>…]`. */
export const ENV_PREFIX = "CLAWBRIDGE_";

/** What applying the environment did: problems found, and which variable set which key path. */
export interface EnvOverrides {
  problems: string[];
  /** Formatted key path (`database.url`) → variable name. */
  origins: Map<string, string>;
}

export type PlainObject = Record<string, unknown>;

/** A mapping (not null, not a list), as YAML objects arrive. */
export function isPlainObject(v: unknown): v is PlainObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * Parses an environment value as a YAML scalar, so that `8008` and `true` arrive typed. Keys the
 * schema declares as text stay text (a numeric secret stays a string). A quoted value is
 * unquoted; a value starting with `[` or `{` may be a flow list or map. Anything else that YAML
 * would read as more than a plain scalar (`a #b`, `x: y`) is kept verbatim, so secrets with odd
 * characters survive. An empty value unsets the key.
 */
export function parseEnvValue(raw: string, node: SchemaNode | undefined): unknown {
  if (raw.trim() === "") return null;
  const first = raw.trimStart()[0];
  const quoted = first === '"' || first === "'";
  let parsed: unknown;
  try {
    parsed = yaml.load(raw);
  } catch {
    return raw;
  }
  if (node?.type === "string") return quoted && typeof parsed === "string" ? parsed : raw;
  if (typeof parsed === "number" || typeof parsed === "boolean" || parsed === null) {
    return parsed === null && !/^\s*(~|null|Null|NULL)\s*$/.test(raw) ? raw : parsed;
  }
  if (typeof parsed === "string") return quoted ? parsed : raw;
  if ((first === "[" || first === "{") && typeof parsed === "object") return parsed;
  return raw;
}

/**
 * Applies `CLAWBRIDGE_<SECTION>__<KEY>` variables to `target` (mutated). Key segments are matched
 * case-insensitively against keys already present, otherwise lower-cased. Variables without `__`
 * (`CLAWBRIDGE_AS_TOKEN`, …) are not configuration overrides and are ignored here. Shorter paths
 * apply first, so a whole section can be set and then refined.
 */
export function applyEnvOverrides(
  target: PlainObject,
  env: NodeJS.ProcessEnv,
  schema: SchemaNode,
): EnvOverrides {
  const problems: string[] = [];
  const origins = new Map<string, string>();
  const vars = Object.keys(env)
    .filter((name) => name.startsWith(ENV_PREFIX) && name.includes("__", ENV_PREFIX.length))
    .map((name) => ({ name, parts: name.slice(ENV_PREFIX.length).split("__") }))
    .sort((a, b) => a.parts.length - b.parts.length || a.name.localeCompare(b.name));

  for (const { name, parts } of vars) {
    const raw = env[name];
    if (raw === undefined) continue;
    if (parts.some((p) => p === "")) {
      problems.push(`${name}: empty key in the variable name (use single "__" between keys)`);
      continue;
    }
    const segs: string[] = [];
    let cur: PlainObject = target;
    let ok = true;
    for (let i = 0; i < parts.length; i++) {
      const key =
        Object.keys(cur).find((k) => k.toLowerCase() === parts[i].toLowerCase()) ?? parts[i].toLowerCase();
      segs.push(key);
      if (i === parts.length - 1) {
        cur[key] = parseEnvValue(raw, schemaAt(schema, segs));
        break;
      }
      const next = cur[key];
      if (next === undefined || next === null) cur[key] = {};
      else if (!isPlainObject(next)) {
        problems.push(`${formatPath(segs)}: is a single value, so ${name} cannot set a key below it`);
        ok = false;
        break;
      }
      cur = cur[key] as PlainObject;
    }
    if (ok) origins.set(formatPath(segs), name);
  }
  return { problems, origins };
}

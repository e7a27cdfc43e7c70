import type { ErrorObject } from "ajv";
import yaml from "js-yaml";
import type { SchemaNode } from "./schemaNodes";

/** The schema node for a key path, following `properties` then `additionalProperties` (`items` in lists). */
export function schemaAt(root: SchemaNode, segments: readonly string[]): SchemaNode | undefined {
  let node: SchemaNode | undefined = root;
  for (const seg of segments) {
    if (!node) return undefined;
    const next: SchemaNode | boolean | undefined =
      node.type === "array" ? node.items : (node.properties?.[seg] ?? node.additionalProperties);
    node = typeof next === "object" ? next : undefined;
  }
  return node;
}

/** `homeserver.url`, `bridge.permissions["@a:b"]`, `ai.failover[0]`: the key path as a reader would write it. */
export function formatPath(segments: readonly string[]): string {
  let out = "";
  for (const seg of segments) {
    if (/^\d+$/.test(seg) && out) out += `[${seg}]`;
    else if (/^[A-Za-z0-9_-]+$/.test(seg)) out += out ? `.${seg}` : seg;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out || "(top level)";
}

/** Splits an ajv instance path (`/a/b~1c`) into key segments. */
export function pointerSegments(pointer: string): string[] {
  if (!pointer) return [];
  return pointer
    .slice(1)
    .split("/")
    .map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"));
}

/** Edit distance where swapping two neighbouring letters counts once (optimal string alignment). */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.length][b.length];
}

/** The candidate closest to `word`, if it is close enough to be a plausible typo. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  const w = word.toLowerCase();
  let best: string | undefined;
  let bestD = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    const dist = distance(w, c.toLowerCase());
    if (dist < bestD) {
      best = c;
      bestD = dist;
    }
  }
  return bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

/** A value as it would be written in YAML, on one line. */
export function yamlText(value: unknown): string {
  return yaml.dump(value, { flowLevel: 0, lineWidth: -1, quoteStyle: "double" }).trim();
}

function example(node: SchemaNode | undefined): unknown {
  return node?.examples?.[0] ?? node?.default;
}

function eg(node: SchemaNode | undefined): string {
  const ex = example(node);
  return ex === undefined ? "" : ` (e.g. ${yamlText(ex)})`;
}

function typeText(node: SchemaNode | undefined, expected: string, value: unknown): string {
  switch (expected) {
    case "string":
      // The value is not echoed: it may be a secret, and secrets are not registered yet.
      return typeof value === "number" || typeof value === "boolean"
        ? "must be text: put the value in quotes"
        : `must be text${eg(node)}`;
    case "integer":
      return `must be a whole number${eg(node)}`;
    case "number":
      return `must be a number${eg(node)}`;
    case "boolean":
      return "must be true or false";
    case "object":
      return "must be a section (indented keys below it), not a single value";
    case "array": {
      const item = example(node?.items);
      return `must be a list${item === undefined ? "" : ` (e.g. [${yamlText(item)}])`}`;
    }
    default:
      return `must be ${node?.["x-expected"] ?? `of type ${expected}`}`;
  }
}

function unknownKey(key: string, node: SchemaNode | undefined): string {
  const known = Object.keys(node?.properties ?? {});
  const hint = closest(key, known);
  if (hint) return `unknown key '${key}' (did you mean '${hint}'?)`;
  return `unknown key '${key}': remove it (known keys: ${known.join(", ")})`;
}

function missing(key: string, node: SchemaNode | undefined, conditional: boolean): string {
  const why = conditional && node?.["x-required-when"] ? ` (needed because ${node["x-required-when"]})` : "";
  const ex = example(node);
  const what = ex === undefined ? `<${node?.["x-expected"] ?? "a value"}>` : yamlText(ex);
  return `is missing${why}: add it, e.g. ${key}: ${what}`;
}

/**
 * Turns ajv errors into one human line each: the key path, then what to write instead.
 * `origin` names the environment variable that set a path, if one did.
 */
export function describeAjvErrors(
  errors: readonly ErrorObject[],
  root: SchemaNode,
  origin: (path: string) => string | undefined,
): string[] {
  const lines: string[] = [];
  for (const e of errors) {
    const at = pointerSegments(e.instancePath);
    let segs = at;
    let text: string | undefined;
    const node = schemaAt(root, at);
    const params = e.params as Record<string, unknown>;
    switch (e.keyword) {
      case "if":
      case "propertyNames":
      case "const":
        break; // reported by the keyword that failed inside
      case "required": {
        const key = String(params.missingProperty);
        if (at.length === 2 && at[0] === "platforms" && key === "module") {
          const hint = closest(at[1], Object.keys(schemaAt(root, ["platforms"])?.properties ?? {}));
          text =
            `unknown platform '${at[1]}'${hint ? ` (did you mean '${hint}'?)` : ""}; ` +
            "a third-party platform needs module: <path of its connector module>";
          break;
        }
        segs = [...at, key];
        text = missing(key, schemaAt(root, segs), e.schemaPath.includes("/then/"));
        break;
      }
      case "additionalProperties": {
        const key = String(params.additionalProperty);
        segs = [...at, key];
        text = unknownKey(key, node);
        break;
      }
      case "type":
        text = typeText(node, String(params.type), e.data);
        break;
      case "enum":
        text = `must be one of: ${(params.allowedValues as unknown[]).map(String).join(", ")}`;
        break;
      case "pattern":
      case "format":
      case "minLength": {
        if (e.propertyName !== undefined) {
          const names = node?.propertyNames;
          segs = [...at, e.propertyName];
          text = `the key is not valid: use ${names?.["x-expected"] ?? `a name matching ${names?.pattern}`}`;
        } else if (node?.["x-expected"]) {
          text = `must be ${node["x-expected"]}${eg(node)}`;
        } else {
          text = e.keyword === "minLength" ? "must not be empty" : `must match ${String(params.pattern)}`;
        }
        break;
      }
      case "minimum":
        text = `must be at least ${String(params.limit)}`;
        break;
      case "maximum":
        text = `must be at most ${String(params.limit)}`;
        break;
      default:
        text = e.message ?? e.keyword;
    }
    if (text === undefined) continue;
    const path = formatPath(segs);
    const env = origin(path);
    const line = `${path}: ${text}${env ? ` (set by ${env})` : ""}`;
    if (!lines.includes(line)) lines.push(line);
  }
  return lines;
}

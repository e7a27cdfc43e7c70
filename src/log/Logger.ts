import winston from "winston";

/** Strings that must never reach a log line (tokens, passwords); registered at start. */
const secrets = new Set<string>();
const REDACTED = "<redacted>";
// Token-shaped values that may appear in URLs, headers or error texts from libraries.
const PATTERNS: RegExp[] = [
  /(access_token=)[^&\s"']+/gi,
  /(Bearer\s+)[A-Za-z0-9._~+/=-]+/g,
  /("?(?:as_token|hs_token|access_token|password|token|secret|shared_secret)"?\s*[:=]\s*"?)[^",\s}&]+/gi,
  /(\/bot)\d+:[A-Za-z0-9_-]+/g,
];
/** A field with one of these names is a secret whatever its value. */
const SECRET_KEY = /^(?:as_token|hs_token|access_token|password|token|secret|shared_secret)$/i;

/** One field's text is cut past this many characters (the cut is marked). */
export const MAX_FIELD_CHARS = 8 * 1024;
/** Nesting kept in a line; deeper values are summarised. */
export const MAX_DEPTH = 6;
/** Entries kept per object or array. */
const MAX_ENTRIES = 100;
/** Values visited per line, so that a wide shared graph cannot make one line expensive. */
const MAX_NODES = 2000;
/** Text redacted beyond the cut, so that a secret straddling the cut is still found whole. */
const CUT_MARGIN = 1024;

/** Registers a secret so that it is replaced in every log line. Short values are ignored. */
export function registerSecret(value: string | undefined): void {
  if (value && value.length >= 6) secrets.add(value);
}

export function redact(text: string): string {
  // Patterns first: a registered secret that happens to be a key word must not hide the key.
  let out = text;
  for (const p of PATTERNS) out = out.replace(p, `$1${REDACTED}`);
  for (const s of secrets) if (out.includes(s)) out = out.split(s).join(REDACTED);
  return out;
}

/** Redacted and cut to {@link MAX_FIELD_CHARS}; a huge text is cut before the (linear) redaction. */
function safeText(text: string): string {
  if (text.length <= MAX_FIELD_CHARS) return redact(text);
  const out = redact(text.slice(0, MAX_FIELD_CHARS + CUT_MARGIN));
  return `${out.slice(0, MAX_FIELD_CHARS)}…[cut ${text.length - MAX_FIELD_CHARS} chars]`;
}

interface Walk {
  /** Objects on the path from the root: a repeat there is a cycle. */
  path: Set<object>;
  nodes: number;
}

function errorText(err: Error, walk: Walk, depth: number): string {
  let text: string;
  try {
    const stack = err.stack;
    text = typeof stack === "string" && stack ? stack : `${String(err.name)}: ${String(err.message)}`;
  } catch {
    text = "[Error]";
  }
  if (depth >= MAX_DEPTH) return text;
  walk.path.add(err);
  try {
    const cause: unknown = (err as { cause?: unknown }).cause;
    if (cause !== undefined) {
      const c = walk.path.has(cause as object) ? "[Circular]" : clean(cause, walk, depth + 1);
      text += `\nCaused by: ${typeof c === "string" ? c : JSON.stringify(c)}`;
    }
    const errors: unknown = (err as { errors?: unknown }).errors;
    if (Array.isArray(errors)) text += `\nErrors: ${JSON.stringify(clean(errors, walk, depth + 1))}`;
  } catch {
    // a throwing getter: the stack alone is still worth the line
  } finally {
    walk.path.delete(err);
  }
  return text;
}

function setEntry(out: Record<string, unknown>, key: string, value: unknown): void {
  if (key === "__proto__") Object.defineProperty(out, key, { value, enumerable: true, writable: true });
  else out[key] = value;
}

/**
 * A JSON-safe, redacted copy of any value: cycles, BigInt, symbols, functions, throwing
 * getters or toJSON, null prototypes, deep nesting and huge strings all become text.
 */
function clean(v: unknown, walk: Walk, depth: number): unknown {
  switch (typeof v) {
    case "string":
      return safeText(v);
    case "number":
    case "boolean":
    case "undefined":
      return v;
    case "bigint":
      return `${v}n`;
    case "symbol":
      return safeText(v.toString());
    case "function":
      return `[Function ${safeText(String((v as { name?: unknown }).name || "anonymous"))}]`;
  }
  if (v === null) return null;
  const o = v as object;
  if (walk.path.has(o)) return "[Circular]";
  if (++walk.nodes > MAX_NODES) return "[…]";
  try {
    if (o instanceof Error) return safeText(errorText(o, walk, depth));
    if (depth >= MAX_DEPTH) return Array.isArray(o) ? "[Array]" : "[Object]";
    if (ArrayBuffer.isView(o)) return `[${o.constructor?.name ?? "bytes"} ${o.byteLength} bytes]`;
    walk.path.add(o);
    try {
      const toJSON = (o as { toJSON?: unknown }).toJSON;
      if (typeof toJSON === "function") return clean(toJSON.call(o), walk, depth + 1);
      if (Array.isArray(o) || o instanceof Set) {
        const items = Array.isArray(o) ? o : [...o];
        const out = items.slice(0, MAX_ENTRIES).map((x) => clean(x, walk, depth + 1));
        if (items.length > MAX_ENTRIES) out.push(`…[${items.length - MAX_ENTRIES} more]`);
        return out;
      }
      const entries: Array<[unknown, unknown]> =
        o instanceof Map ? [...o.entries()] : Object.keys(o).map((k) => [k, undefined]);
      const out: Record<string, unknown> = {};
      for (const [i, [k, mapValue]] of entries.entries()) {
        if (i === MAX_ENTRIES) {
          setEntry(out, "…", `${entries.length - MAX_ENTRIES} more`);
          break;
        }
        const key = typeof k === "string" ? safeText(k) : String(clean(k, walk, depth + 1));
        let value: unknown;
        if (typeof k === "string" && SECRET_KEY.test(k)) value = REDACTED;
        else {
          try {
            value = clean(
              o instanceof Map ? mapValue : (o as Record<string, unknown>)[k as string],
              walk,
              depth + 1,
            );
          } catch {
            value = "[unreadable]";
          }
        }
        setEntry(out, key, value);
      }
      return out;
    } finally {
      walk.path.delete(o);
    }
  } catch {
    return "[unreadable]";
  }
}

/** The line's text for whatever was passed as the message. */
function messageText(message: unknown): string {
  if (typeof message === "string") return safeText(message);
  const c = clean(message, { path: new Set(), nodes: 0 }, 0);
  return typeof c === "string" ? c : (JSON.stringify(c) ?? String(c));
}

export type LogFormat = "pretty" | "json";
export type LogLevel = "error" | "warn" | "info" | "debug";

let settings: { level: LogLevel; format: LogFormat } = { level: "info", format: "pretty" };
let root = makeRoot(settings.level, settings.format);

function makeRoot(level: LogLevel, format: LogFormat): winston.Logger {
  const base = [winston.format.timestamp()];
  const fmt =
    format === "json"
      ? winston.format.combine(...base, winston.format.json())
      : winston.format.combine(
          ...base,
          winston.format.printf((i) => {
            const { timestamp, level: lvl, message, module, ...rest } = i;
            const ctx = Object.keys(rest).length ? ` ${JSON.stringify(rest)}` : "";
            return `${timestamp} ${lvl.toUpperCase()} [${module}] ${message}${ctx}`;
          }),
        );
  return winston.createLogger({
    level,
    format: fmt,
    transports: [new winston.transports.Console({ stderrLevels: ["error", "warn", "info", "debug"] })],
  });
}

/** Sets level and format for every logger, existing and future. */
export function configureLogging(opts: { level: LogLevel; format: LogFormat }): void {
  const next = makeRoot(opts.level, opts.format);
  root.close();
  root = next;
  settings = { level: opts.level, format: opts.format };
}

type Meta = Record<string, unknown>;

/** Adds `source`'s fields to `info`, each made JSON-safe and redacted; strings and numbers go the short way. */
function addFields(info: Meta, source: Meta, walk: Walk): void {
  for (const k of Object.keys(source)) {
    const v = source[k];
    let out: unknown;
    if (SECRET_KEY.test(k)) out = REDACTED;
    else if (typeof v === "string") out = v.length > 5 ? safeText(v) : v;
    else if (typeof v === "number" || typeof v === "boolean" || v === undefined) out = v;
    else out = clean(v, walk, 1);
    setEntry(info, k.length > 5 ? safeText(k) : k, out);
  }
}

/**
 * One logger per module: `new Logger("PortalService")`. Context goes in `meta`, never secrets.
 * Logging never throws into the caller: whatever is passed is made JSON-safe and redacted
 * first, and a failure of the log library itself falls back to a plain line on stderr.
 */
export class Logger {
  constructor(
    readonly module: string,
    private readonly context: Meta = {},
  ) {}

  /** A logger that adds `context` (platform, portal, remote id…) to every line. */
  child(context: Meta): Logger {
    return new Logger(this.module, { ...this.context, ...context });
  }

  debug(message: string, meta?: Meta): void {
    if (root.isDebugEnabled()) this.write("debug", message, meta);
  }
  info(message: string, meta?: Meta): void {
    this.write("info", message, meta);
  }
  warn(message: string, meta?: Meta): void {
    this.write("warn", message, meta);
  }
  error(message: string, meta?: Meta): void {
    this.write("error", message, meta);
  }

  private write(level: LogLevel, message: unknown, meta?: unknown): void {
    let text = "";
    try {
      text = messageText(message);
      const info: Meta = { module: this.module };
      const walk: Walk = { path: new Set(), nodes: 0 };
      addFields(info, this.context, walk);
      if (meta !== null && typeof meta === "object") addFields(info, meta as Meta, walk);
      else if (meta !== undefined) info.meta = clean(meta, walk, 1);
      // winston appends a `message` field to the line's message; the line's own text stays first.
      root.log(level, text, info);
    } catch (err) {
      fallback(level, this.module, text, err);
    }
  }
}

/** The log library failed: a minimal line straight to stderr, so that nothing is lost silently. */
function fallback(level: LogLevel, module: string, text: string, err: unknown): void {
  try {
    let why: string;
    try {
      why = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    } catch {
      why = "unknown";
    }
    process.stderr.write(
      `${new Date().toISOString()} ${level.toUpperCase()} [${module}] ${text} (log line degraded: ${safeText(why)})\n`,
    );
  } catch {
    // nowhere left to write
  }
  // A failed write may leave the library's stream unusable: the next line goes to a fresh one.
  try {
    const old = root;
    root = makeRoot(settings.level, settings.format);
    old.close();
  } catch {
    // keep what there is
  }
}

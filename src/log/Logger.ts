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

const redactFormat = winston.format((info) => {
  info.message = redact(String(info.message));
  for (const key of Object.keys(info)) {
    const v = info[key];
    if (typeof v === "string") info[key] = redact(v);
    else if (v instanceof Error) info[key] = redact(v.stack ?? v.message);
    else if (v && typeof v === "object") info[key] = JSON.parse(redact(JSON.stringify(v)));
  }
  return info;
});

export type LogFormat = "pretty" | "json";
export type LogLevel = "error" | "warn" | "info" | "debug";

let root = makeRoot("info", "pretty");

function makeRoot(level: LogLevel, format: LogFormat): winston.Logger {
  const base = [winston.format.timestamp(), redactFormat()];
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
}

type Meta = Record<string, unknown>;

/** One logger per module: `new Logger("PortalService")`. Context goes in `meta`, never secrets. */
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

  private write(level: LogLevel, message: string, meta?: Meta): void {
    const extra: Meta = {};
    if (meta) {
      for (const [k, v] of Object.entries(meta)) extra[k] = v instanceof Error ? (v.stack ?? v.message) : v;
    }
    root.log(level, message, { module: this.module, ...this.context, ...extra });
  }
}

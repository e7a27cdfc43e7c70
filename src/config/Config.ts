import fs from "node:fs";
import nodePath from "node:path";
import yaml, { YAMLException } from "js-yaml";
import { builtinPlatform } from "../../bridges/builtin";
import { aiConfigProblems } from "../ai/config";
import { redact, registerSecret } from "../log/Logger";
import { ConfigError } from "./ConfigError";
import { applyEnvOverrides, isPlainObject, type PlainObject } from "./env";
import { describeAjvErrors } from "./messages";
import { CONFIG_KEY } from "./precompiled";
import { CONFIG_SCHEMA, KNOWN_PLATFORMS } from "./schema";
import { validatorFor } from "./sectionCheck";
import type { BridgeConfig } from "./types";

export { ConfigError } from "./ConfigError";
export { chatIdFromAlias, escapeLocalpart, ghostUserId, portalAlias, remoteIdFromGhost } from "./ids";

/**
 * Keys whose string values are secrets, at any depth (connector sections included). A webhook
 * URL is one; the other `webhook_*` settings (bind address, name) are not.
 */
const SECRET_KEY =
  /token|secret|password|passwd|api_?key|private_?key|pickle_?key|credential|webhook(_?url)?$/i;

/** Maps whose every value is a secret: HTTP headers and environment variables handed to other programs. */
const SECRET_MAPS = new Set(["headers", "env"]);

function registerSecrets(value: unknown, key = ""): void {
  if (SECRET_MAPS.has(key) && isPlainObject(value)) {
    for (const v of Object.values(value)) if (typeof v === "string") registerSecret(v);
    return;
  }
  if (typeof value === "string") {
    if (SECRET_KEY.test(key)) registerSecret(value);
  } else if (Array.isArray(value)) {
    for (const v of value) registerSecrets(v, key);
  } else if (isPlainObject(value)) {
    for (const [k, v] of Object.entries(value)) registerSecrets(v, k);
  }
}

function registerDatabasePassword(url: string | undefined): void {
  if (!url) return;
  try {
    const { password } = new URL(url);
    if (password) {
      registerSecret(password);
      registerSecret(decodeURIComponent(password));
    }
  } catch {
    // Not parseable as a URL: the schema has already checked the scheme; nothing to register.
  }
}

/** `key:` with nothing after it means "not set": drop nulls so defaults and "missing" apply. */
function dropNulls(obj: PlainObject): void {
  for (const [k, v] of Object.entries(obj)) {
    if (v === null) delete obj[k];
    else if (isPlainObject(v)) dropNulls(v);
  }
}

/** Third-party platforms get their `_<name>_` prefixes here; built-in ones via schema defaults. */
function fillPlatformPrefixes(obj: PlainObject): void {
  const platforms = obj.platforms;
  if (!isPlainObject(platforms)) return;
  for (const [name, p] of Object.entries(platforms)) {
    if (!isPlainObject(p) || (KNOWN_PLATFORMS as readonly string[]).includes(name)) continue;
    p.ghost_prefix ??= `_${name}_`;
    p.alias_prefix ??= `_${name}_`;
  }
}

/** Rules across keys that a JSON schema cannot express. */
function crossChecks(c: BridgeConfig): string[] {
  const problems: string[] = [];
  if (c.ai.enabled && c.ai.localpart === c.bridge.bot.localpart) {
    problems.push(`ai.localpart: must differ from bridge.bot.localpart ('${c.bridge.bot.localpart}')`);
  }
  problems.push(...aiConfigProblems(c.ai));
  for (const key of ["default", "require"] as const) {
    if (c.encryption[key] && !c.encryption.allow)
      problems.push(`encryption.${key}: needs encryption.allow: true (it is false)`);
  }
  if (c.delivery.max_backoff_ms < c.delivery.initial_backoff_ms) {
    problems.push(
      `delivery.max_backoff_ms: must be at least delivery.initial_backoff_ms (${c.delivery.initial_backoff_ms})`,
    );
  }
  c.bridge.other_appservice_users.forEach((re, i) => {
    try {
      new RegExp(re, "u");
    } catch (err) {
      problems.push(
        `bridge.other_appservice_users[${i}]: not a regular expression (${(err as Error).message}); e.g. "@_discord_.*:example\\.org"`,
      );
    }
  });
  const enabled = Object.entries(c.platforms).filter(([, p]) => p.enabled);
  for (const which of ["ghost_prefix", "alias_prefix"] as const) {
    for (const [a, pa] of enabled) {
      for (const [b, pb] of enabled) {
        if (a !== b && pb[which].startsWith(pa[which]) && (pa[which] !== pb[which] || a < b)) {
          problems.push(
            `platforms.${b}.${which}: '${pb[which]}' overlaps platforms.${a}.${which} ('${pa[which]}'); ` +
              `use distinct prefixes, e.g. _${b}_`,
          );
        }
      }
    }
  }
  for (const [name, p] of Object.entries(c.platforms)) {
    const builtin = builtinPlatform(name);
    if (!builtin || p.module !== undefined) continue;
    try {
      builtin.read(p, name);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      problems.push(...err.problems);
    }
  }
  const ownLocalparts = [c.bridge.bot.localpart, ...(c.ai.enabled ? [c.ai.localpart] : [])];
  for (const [name, p] of enabled) {
    for (const lp of ownLocalparts) {
      if (lp.startsWith(p.ghost_prefix)) {
        problems.push(
          `platforms.${name}.ghost_prefix: '${p.ghost_prefix}' would also claim @${lp}; change one`,
        );
      }
    }
  }
  return problems;
}

/**
 * Builds the configuration from an already parsed object: environment overrides, defaults,
 * validation, secret registration. `env` defaults to none, so tests are not affected by the
 * process environment. Throws `ConfigError` listing every problem.
 */
export function configFromObject(
  obj: unknown,
  env: NodeJS.ProcessEnv = {},
  source = "configuration",
): BridgeConfig {
  if (obj !== undefined && obj !== null && !isPlainObject(obj)) {
    throw new ConfigError(
      ["(top level): must be a mapping of sections (homeserver:, appservice:, …)"],
      source,
    );
  }
  const data: PlainObject = obj ? structuredClone(obj) : {};
  const { problems, origins } = applyEnvOverrides(data, env, CONFIG_SCHEMA);
  dropNulls(data);
  const db = data.database;
  if (isPlainObject(db) && db.url === "") delete db.url;
  fillPlatformPrefixes(data);

  const check = validatorFor<BridgeConfig>(CONFIG_KEY, CONFIG_SCHEMA);
  if (!check(data)) {
    // The variable that set this key or a key below it (`appservice.id` set by …__ID__X).
    const origin = (p: string) =>
      origins.get(p) ?? [...origins].find(([k]) => k.startsWith(`${p}.`) || k.startsWith(`${p}[`))?.[1];
    problems.push(...describeAjvErrors(check.errors ?? [], CONFIG_SCHEMA, origin));
  } else if (problems.length === 0) {
    problems.push(...crossChecks(data));
  }
  if (problems.length > 0) throw new ConfigError(problems, source);

  const config = data as unknown as BridgeConfig;
  registerSecrets(config);
  registerDatabasePassword(config.database.url);
  return config;
}

function readSource(path: string): string {
  try {
    return fs.readFileSync(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const text =
      code === "ENOENT"
        ? "file not found: copy config.sample.yaml to it and edit it, or pass the right path with -c"
        : code === "EACCES"
          ? "permission denied: make the file readable by the user running the bridge"
          : code === "EISDIR"
            ? "is a directory: pass the path of the YAML file"
            : `cannot be read (${String(code ?? err)})`;
    throw new ConfigError([`${path}: ${text}`], `config file ${path}`);
  }
}

function parseYaml(text: string, path: string): unknown {
  if (text.trim() === "" || /^\s*(#.*)?(\n\s*(#.*)?)*$/.test(text)) return {};
  try {
    return yaml.load(text, { filename: path });
  } catch (err) {
    if (err instanceof YAMLException) {
      const where = err.mark ? ` line ${err.mark.line + 1}, column ${err.mark.column + 1}` : "";
      // The snippet may show a token line; redact what the logger would.
      const snippet = err.mark?.snippet ? `\n${redact(err.mark.snippet)}` : "";
      throw new ConfigError(
        [`${path}${where}: invalid YAML: ${err.reason}${snippet}`],
        `config file ${path}`,
      );
    }
    throw new ConfigError([`${path}: invalid YAML: ${String(err)}`], `config file ${path}`);
  }
}

/**
 * Reads the YAML config at `path`, applies `CLAWBRIDGE_<SECTION>__<KEY>` environment overrides
 * (`__` between nested keys, values read as YAML scalars), fills defaults and validates.
 * Relative paths (registration, data_dir, platform modules) become absolute against the
 * config file's directory. Throws `ConfigError` naming the file and listing every problem with its key path and fix.
 */
export function loadConfig(path: string, env: NodeJS.ProcessEnv = process.env): BridgeConfig {
  const config = configFromObject(parseYaml(readSource(path), path), env, `config file ${path}`);
  resolvePaths(config, nodePath.dirname(nodePath.resolve(path)));
  return config;
}

/** File paths in the config are relative to the config file, not to where the bridge was started. */
function resolvePaths(config: BridgeConfig, base: string): void {
  const abs = (p: string) => nodePath.resolve(base, p);
  config.appservice.registration = abs(config.appservice.registration);
  config.database.data_dir = abs(config.database.data_dir);
  for (const p of Object.values(config.platforms)) {
    if (typeof p.module === "string") p.module = abs(p.module);
  }
}

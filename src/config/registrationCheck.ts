import fs from "node:fs";
import yaml from "js-yaml";
import { ENCRYPTION_REGISTRATION_KEYS } from "./registration";
import type { BridgeConfig } from "./types";

/** One id the bridge will act as (or alias it will create) and why it needs it. */
export interface RegistrationNeed {
  kind: "users" | "aliases";
  id: string;
  what: string;
}

/** Sample ids standing for everything the config makes the bridge use. */
export function registrationNeeds(config: BridgeConfig): RegistrationNeed[] {
  const domain = config.homeserver.domain;
  const out: RegistrationNeed[] = [
    { kind: "users", id: `@${config.bridge.bot.localpart}:${domain}`, what: "the bridge bot" },
  ];
  if (config.ai.enabled)
    out.push({ kind: "users", id: `@${config.ai.localpart}:${domain}`, what: "the AI user" });
  for (const [name, p] of Object.entries(config.platforms)) {
    if (!p.enabled) continue;
    out.push({ kind: "users", id: `@${p.ghost_prefix}1:${domain}`, what: `${name} ghosts` });
    out.push({ kind: "aliases", id: `#${p.alias_prefix}1:${domain}`, what: `${name} portal aliases` });
  }
  return out;
}

/**
 * What the registration document lacks for `config`: each returned line names a field or a
 * namespace (the ids of an enabled platform's ghosts, the bot, …) the homeserver would refuse.
 * Empty when the registration covers the config. Namespaces the config does not need are
 * allowed (a hand-written, broader registration is fine).
 */
export function registrationProblems(config: BridgeConfig, doc: unknown): string[] {
  if (typeof doc !== "object" || doc === null) return ["it is not a YAML mapping"];
  const reg = doc as Record<string, unknown>;
  const problems: string[] = [];
  const same = (key: string, want: string, from: string) => {
    if (reg[key] !== want)
      problems.push(`${key} is ${JSON.stringify(reg[key])}, but ${from} is ${JSON.stringify(want)}`);
  };
  same("id", config.appservice.id, "appservice.id");
  same("url", config.appservice.url, "appservice.url");
  same("sender_localpart", config.bridge.bot.localpart, "bridge.bot.localpart");
  const namespaces = (reg.namespaces ?? {}) as Record<string, unknown>;
  for (const need of registrationNeeds(config)) {
    const entries = Array.isArray(namespaces[need.kind]) ? (namespaces[need.kind] as unknown[]) : [];
    const covered = entries.some((e) => {
      const { regex, exclusive } = (e ?? {}) as { regex?: unknown; exclusive?: unknown };
      if (exclusive !== true || typeof regex !== "string") return false;
      try {
        return new RegExp(regex).test(need.id);
      } catch {
        return false;
      }
    });
    if (!covered) problems.push(`no exclusive ${need.kind} namespace covers ${need.id} (${need.what})`);
  }
  if (config.encryption.allow) problems.push(...encryptionKeyProblems(reg));
  return problems;
}

/**
 * The registration keys encrypted rooms need (see {@link ENCRYPTION_REGISTRATION_KEYS}) that are
 * not `true`, each naming the line to add. Registrations written before encryption lack them.
 */
export function encryptionKeyProblems(reg: Record<string, unknown>): string[] {
  return ENCRYPTION_REGISTRATION_KEYS.filter((key) => reg[key] !== true).map(
    (key) =>
      `${key} is ${key in reg ? JSON.stringify(reg[key]) : "missing"}, but encryption.allow needs the line "${key}: true"`,
  );
}

/** {@link registrationProblems} of a registration file; a file that cannot be read or parsed is one problem. */
export function registrationFileProblems(config: BridgeConfig, file: string): string[] {
  let doc: unknown;
  try {
    doc = yaml.load(fs.readFileSync(file, "utf8"));
  } catch (err) {
    return [`${file} cannot be read: ${(err as Error).message.split("\n")[0]}`];
  }
  return registrationProblems(config, doc);
}

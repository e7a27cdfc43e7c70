import type { BridgeConfig } from "./types";

/**
 * Remote ids become part of Matrix localparts, which allow only `a-z 0-9 . _ = - /`. As the
 * Matrix spec suggests for other character sets, every other byte of the UTF-8 encoding (upper
 * case letters included, and `=` itself) is written as `=xx` in lower-case hex, so the mapping is
 * reversible: `Alice+1` → `=41lice=2b1`.
 */
const LITERAL = /^[a-z0-9._\-/]$/;

/** Escapes a remote id into localpart characters. */
export function escapeLocalpart(id: string): string {
  let out = "";
  for (const ch of id) {
    if (LITERAL.test(ch)) out += ch;
    else for (const b of Buffer.from(ch, "utf8")) out += `=${b.toString(16).padStart(2, "0")}`;
  }
  return out;
}

/** Reverses `escapeLocalpart`; undefined unless `s` is exactly what escaping some id gives. */
export function unescapeLocalpart(s: string): string | undefined {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    if (ch === "=") {
      const hex = s.slice(i + 1, i + 3);
      if (!/^[0-9a-f]{2}$/.test(hex)) return undefined;
      bytes.push(Number.parseInt(hex, 16));
      i += 2;
    } else if (LITERAL.test(ch)) bytes.push(ch.charCodeAt(0));
    else return undefined;
  }
  const id = new TextDecoder("utf-8", { fatal: false }).decode(Uint8Array.from(bytes));
  return escapeLocalpart(id) === s ? id : undefined;
}

type IdConfig = Pick<BridgeConfig, "homeserver" | "platforms">;

function prefixes(config: IdConfig, platform: string): { ghost: string; alias: string } {
  const p = config.platforms[platform];
  return { ghost: p?.ghost_prefix ?? `_${platform}_`, alias: p?.alias_prefix ?? `_${platform}_` };
}

function requireId(what: string, id: string): void {
  if (id === "") throw new Error(`${what} must not be empty`);
}

/**
 * The Matrix user id of the ghost for a remote user: `@<ghost_prefix><escaped id>:<domain>`.
 * A platform missing from the config uses the default prefix `_<platform>_`.
 */
export function ghostUserId(config: IdConfig, platform: string, remoteId: string): string {
  requireId("remote user id", remoteId);
  return `@${prefixes(config, platform).ghost}${escapeLocalpart(remoteId)}:${config.homeserver.domain}`;
}

/** The portal alias for a remote chat: `#<alias_prefix><escaped chat id>:<domain>`. */
export function portalAlias(config: IdConfig, platform: string, chatId: string): string {
  requireId("remote chat id", chatId);
  return `#${prefixes(config, platform).alias}${escapeLocalpart(chatId)}:${config.homeserver.domain}`;
}

function parse(
  config: IdConfig,
  sigil: string,
  id: string,
  which: "ghost" | "alias",
): { platform: string; remoteId: string } | undefined {
  if (!id.startsWith(sigil)) return undefined;
  const colon = id.indexOf(":");
  if (colon < 0 || id.slice(colon + 1) !== config.homeserver.domain) return undefined;
  const local = id.slice(1, colon);
  // Longest prefix first, so that `_slack_` never shadows a hypothetical `_slack_x_`.
  const candidates = Object.keys(config.platforms)
    .map((platform) => ({ platform, prefix: prefixes(config, platform)[which] }))
    .filter((c) => local.startsWith(c.prefix) && local.length > c.prefix.length)
    .sort((a, b) => b.prefix.length - a.prefix.length);
  for (const c of candidates) {
    const remoteId = unescapeLocalpart(local.slice(c.prefix.length));
    if (remoteId !== undefined) return { platform: c.platform, remoteId };
  }
  return undefined;
}

/** The platform and remote user id behind a ghost's Matrix id; undefined if it is not a ghost. */
export function remoteIdFromGhost(
  config: IdConfig,
  mxid: string,
): { platform: string; remoteId: string } | undefined {
  return parse(config, "@", mxid, "ghost");
}

/** The platform and remote chat id behind a portal alias; undefined if it is not a portal alias. */
export function chatIdFromAlias(
  config: IdConfig,
  alias: string,
): { platform: string; chatId: string } | undefined {
  const r = parse(config, "#", alias, "alias");
  return r && { platform: r.platform, chatId: r.remoteId };
}

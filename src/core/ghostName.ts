/**
 * Ghost display names: a platform user's name, cleaned and put through
 * `bridge.displayname_template`, so that no platform user can pass for the bridge bot, the AI
 * puppet or a Matrix user in clients.
 */

/** Longest part of the platform name kept, in code points (then "…"). */
export const NAME_MAX = 64;
/** Longest display name produced; the homeserver refuses profiles past 256 characters. */
export const DISPLAYNAME_MAX = 200;

/**
 * Characters removed from names: controls (C0, C1), format characters (bidi embeddings,
 * overrides and isolates, zero-width space/joiners, word joiner, BOM, soft hyphen), line and
 * paragraph separators, unpaired surrogates, private use and unassigned code points, and the
 * blank-looking fillers (Hangul fillers, braille blank, combining grapheme joiner).
 */
const REMOVED =
  /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\u115F\u1160\u17B4\u17B5\u180E\u2800\u3164\uFFA0]|\u034F/gu;

/** Lone surrogates (ill-formed UTF-16), which the regex above cannot see one unit at a time. */
function wellFormed(s: string): string {
  return s.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, "");
}

function capCodePoints(s: string, max: number): string {
  const cps = [...s];
  return cps.length <= max
    ? s
    : `${cps
        .slice(0, max - 1)
        .join("")
        .trimEnd()}…`;
}

function strip(raw: string): string {
  return wellFormed(String(raw))
    .normalize("NFC")
    .replace(/\s+/gu, " ")
    .replace(REMOVED, "")
    .replace(/\s+/gu, " ")
    .trim();
}

/** A platform name made safe to show: no invisible or direction-changing characters, one line. */
export function cleanName(raw: string): string {
  return capCodePoints(strip(raw), NAME_MAX);
}

/** How names are compared for collisions: case, width and compatibility forms folded. */
export function nameKey(name: string): string {
  return cleanName(name).normalize("NFKC").toLowerCase().replace(/\s+/gu, " ");
}

/** How platforms are named in ghost names, where capitalising the first letter is not enough. */
const PLATFORM_NAMES: Record<string, string> = { whatsapp: "WhatsApp" };

export interface GhostNameInput {
  template: string;
  /** The name on the platform, as sent. */
  displayName: string | undefined;
  /** Platform name (capitalised for display). */
  platform: string;
  /** The user's platform id. */
  remoteId: string;
  /** Names the ghost must not look like: the bot, the AI, members of the room (names and ids). */
  reserved?: Iterable<string>;
}

function render(template: string, values: Record<string, string>): string {
  return template.replace(/\{(displayname|platform|id)\}/g, (_, k: string) => values[k] ?? "");
}

/**
 * The ghost's display name: the cleaned name (or the id when nothing is left) through the
 * template, capped at {@link DISPLAYNAME_MAX}; when that would read like a reserved name,
 * the id is added.
 */
export function ghostDisplayName(input: GhostNameInput): string {
  const platform =
    PLATFORM_NAMES[input.platform] ??
    (input.platform ? input.platform[0]!.toUpperCase() + input.platform.slice(1) : "");
  const id = capCodePoints(cleanName(input.remoteId), NAME_MAX) || "?";
  const name = cleanName(input.displayName ?? "") || id;
  const finish = (s: string) => capCodePoints(strip(s), DISPLAYNAME_MAX);
  const out = finish(render(input.template, { displayname: name, platform, id })) || id;
  const taken = new Set<string>();
  for (const r of input.reserved ?? []) taken.add(nameKey(r));
  if (!taken.has(nameKey(out))) return out;
  const candidates = [
    finish(render(input.template, { displayname: `${name} [${id}]`, platform, id })),
    finish(`${out} [${id}]`),
    finish(`${out} [${platform} ${id}]`),
  ];
  for (const c of candidates) if (c && !taken.has(nameKey(c))) return c;
  for (let n = 2; ; n++) {
    const c = finish(`${out} [${id} ${n}]`);
    if (!taken.has(nameKey(c))) return c;
  }
}

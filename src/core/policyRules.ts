/**
 * Policy rules as Mjolnir and Draupnir publish them (MSC2313): state events in a policy room,
 * `m.policy.rule.user` / `m.policy.rule.server` (and the older type names still found in
 * lists), content `{entity, recommendation, reason}`, `entity` a glob; or, as Draupnir writes
 * takedowns, the entity's SHA-256 instead of the entity (MSC4205 `hashes`). Pure functions:
 * parsing, glob matching and the rule set of one list.
 */
import { createHash } from "node:crypto";

/** Rule event types by what they cover, the stable name first (it wins over older ones). */
export const USER_RULE_TYPES = ["m.policy.rule.user", "m.room.rule.user", "org.matrix.mjolnir.rule.user"];
export const SERVER_RULE_TYPES = [
  "m.policy.rule.server",
  "m.room.rule.server",
  "org.matrix.mjolnir.rule.server",
];
/**
 * The recommendations that keep someone out: ban (stable, and Mjolnir's unstable name) and
 * takedown (MSC4204, stronger than a ban; for the bridge the same).
 */
export const BAN_RECOMMENDATIONS = [
  "m.ban",
  "org.matrix.mjolnir.ban",
  "m.takedown",
  "org.matrix.msc4204.takedown",
];

/** Longest entity taken from a list; a longer one cannot match a user id (255 bytes at most). */
export const MAX_ENTITY_LENGTH = 4096;

export type RuleKind = "user" | "server";

export interface PolicyRule {
  kind: RuleKind;
  /** The glob as written in the list (for a hashed rule, `sha256:<hash>`). */
  entity: string;
  /** Base64 SHA-256 of the entity, for a rule that names it only by hash (no glob then). */
  sha256?: string;
  reason: string;
  /** Who set the rule (the event's sender). */
  sender?: string;
  stateKey: string;
  eventId?: string;
}

export function ruleKindOf(type: string): RuleKind | undefined {
  if (USER_RULE_TYPES.includes(type)) return "user";
  if (SERVER_RULE_TYPES.includes(type)) return "server";
  return undefined;
}

/** How preferred a rule type is among those of its kind: 0 for the stable name. */
function typeRank(type: string): number {
  const i = USER_RULE_TYPES.indexOf(type);
  return i >= 0 ? i : SERVER_RULE_TYPES.indexOf(type);
}

/** A state event as read from `/state` or a transaction; anything may be missing or mistyped. */
export interface StateEventLike {
  type?: unknown;
  state_key?: unknown;
  content?: unknown;
  sender?: unknown;
  event_id?: unknown;
}

/**
 * The ban rule a state event holds, or undefined: another type, a removed rule (empty content,
 * as Draupnir writes to remove one, or a redacted event), no entity, another recommendation.
 * Never throws, whatever the event holds.
 */
export function parseRule(ev: StateEventLike): PolicyRule | undefined {
  if (typeof ev !== "object" || ev === null) return undefined;
  const kind = typeof ev.type === "string" ? ruleKindOf(ev.type) : undefined;
  if (!kind || typeof ev.state_key !== "string") return undefined;
  const c = ev.content;
  if (typeof c !== "object" || c === null || Array.isArray(c)) return undefined;
  const { entity, recommendation, reason } = c as Record<string, unknown>;
  if (typeof recommendation !== "string" || !BAN_RECOMMENDATIONS.includes(recommendation)) return undefined;
  const sha256 = typeof entity === "string" ? undefined : hashOf(c as Record<string, unknown>);
  if (sha256 === undefined && (typeof entity !== "string" || !entity || entity.length > MAX_ENTITY_LENGTH))
    return undefined;
  return {
    kind,
    entity: sha256 === undefined ? (entity as string) : `sha256:${sha256}`,
    ...(sha256 === undefined ? {} : { sha256 }),
    reason: typeof reason === "string" ? reason.slice(0, 500) : "",
    sender: typeof ev.sender === "string" ? ev.sender : undefined,
    stateKey: ev.state_key,
    eventId: typeof ev.event_id === "string" ? ev.event_id : undefined,
  };
}

/** The SHA-256 of a hashed rule (`hashes`, or MSC4205's unstable key), without base64 padding. */
function hashOf(c: Record<string, unknown>): string | undefined {
  for (const key of ["hashes", "org.matrix.msc4205.hashes"]) {
    const h = c[key];
    const sha = typeof h === "object" && h !== null ? (h as Record<string, unknown>).sha256 : undefined;
    if (typeof sha === "string" && /^[A-Za-z0-9+/]{43}=?$/.test(sha)) return sha.replace(/=+$/, "");
  }
  return undefined;
}

/** Base64 SHA-256 of a user id or server name, without padding, as hashed rules name them. */
export function sha256Of(entity: string): string {
  return createHash("sha256").update(entity, "utf8").digest("base64").replace(/=+$/, "");
}

/**
 * The rules of a policy room's state. Per kind and state key only the event of the most
 * preferred type counts (as in Mjolnir: an old-style event never overrides a stable one, not
 * even to remove it), and it counts even when it removes the rule.
 */
export function rulesOfState(state: readonly unknown[]): PolicyRule[] {
  const best = new Map<string, { rank: number; ev: StateEventLike }>();
  for (const raw of state) {
    if (typeof raw !== "object" || raw === null) continue;
    const ev = raw as StateEventLike;
    const kind = typeof ev.type === "string" ? ruleKindOf(ev.type) : undefined;
    if (!kind || typeof ev.state_key !== "string") continue;
    const key = `${kind}\n${ev.state_key}`;
    const rank = typeRank(ev.type as string);
    const seen = best.get(key);
    if (!seen || rank < seen.rank) best.set(key, { rank, ev });
  }
  const out: PolicyRule[] = [];
  for (const { ev } of best.values()) {
    const rule = parseRule(ev);
    if (rule) out.push(rule);
  }
  return out;
}

/**
 * A compiled glob: `*` any run of characters (none included), `?` exactly one character,
 * everything else itself, case-sensitive, over the whole text — as matrix-bot-sdk's MatrixGlob,
 * which Mjolnir and Draupnir use, except that `?` is one Unicode code point (MatrixGlob's regex
 * counts UTF-16 units) and `*` also spans line breaks (user ids have neither).
 *
 * Matching never backtracks more than one segment: the text between stars is found leftmost
 * (greedy by segments), so a match costs O(pattern + text²) character steps at worst, whatever
 * the pattern (`*a*a*a*…*b` included) — and user ids are at most 255 characters long.
 */
export class Glob {
  /** Segments between stars, as code points; `null` stands for `?`. */
  private readonly segments: Array<Array<string | null>>;
  private readonly startsWithStar: boolean;
  private readonly endsWithStar: boolean;
  private readonly hasStar: boolean;
  /** The pattern has no `*` or `?`: compare as a string. */
  readonly literal: boolean;

  constructor(readonly pattern: string) {
    const parts = pattern.split("*");
    this.startsWithStar = parts.length > 1 && parts[0] === "";
    this.endsWithStar = parts.length > 1 && parts[parts.length - 1] === "";
    this.segments = parts.filter((p) => p !== "").map((p) => Array.from(p, (c) => (c === "?" ? null : c)));
    this.hasStar = parts.length > 1;
    this.literal = !this.hasStar && !pattern.includes("?");
  }

  /**
   * Whether `text` matches. `steps`, when given, counts the character comparisons (tests bound
   * the work with it).
   */
  test(text: string | readonly string[], steps?: { n: number }): boolean {
    const t = typeof text === "string" ? Array.from(text) : text;
    const count = steps ?? { n: 0 };
    const segs = this.segments;
    if (!this.hasStar) {
      const only = segs[0] ?? [];
      return only.length === t.length && matchesAt(only, t, 0, count);
    }
    let lo = 0;
    let hi = t.length;
    let first = 0;
    let last = segs.length;
    if (!this.startsWithStar) {
      const s = segs[0]!;
      if (s.length > hi || !matchesAt(s, t, 0, count)) return false;
      lo = s.length;
      first = 1;
    }
    if (!this.endsWithStar && last > first) {
      const s = segs[last - 1]!;
      if (s.length > hi - lo || !matchesAt(s, t, hi - s.length, count)) return false;
      hi -= s.length;
      last -= 1;
    }
    for (let i = first; i < last; i++) {
      const s = segs[i]!;
      const at = find(s, t, lo, hi, count);
      if (at < 0) return false;
      lo = at + s.length;
    }
    return true;
  }
}

function matchesAt(
  seg: ReadonlyArray<string | null>,
  t: readonly string[],
  at: number,
  steps: { n: number },
) {
  for (let j = 0; j < seg.length; j++) {
    steps.n++;
    const c = seg[j];
    if (c !== null && c !== t[at + j]) return false;
  }
  return true;
}

/** The leftmost position in [lo, hi) where `seg` fits whole, or -1. */
function find(
  seg: ReadonlyArray<string | null>,
  t: readonly string[],
  lo: number,
  hi: number,
  steps: { n: number },
): number {
  for (let at = lo; at + seg.length <= hi; at++) if (matchesAt(seg, t, at, steps)) return at;
  return -1;
}

/** The server name of a user id (`@local:server` → `server`), or undefined. */
export function serverOf(mxid: string): string | undefined {
  const i = mxid.indexOf(":");
  return mxid.startsWith("@") && i > 1 && i < mxid.length - 1 ? mxid.slice(i + 1) : undefined;
}

/** The rules of one list, ready to match user ids: literal entities by lookup, globs in turn. */
export class RuleSet {
  private readonly literal = { user: new Map<string, PolicyRule>(), server: new Map<string, PolicyRule>() };
  private readonly hashed = { user: new Map<string, PolicyRule>(), server: new Map<string, PolicyRule>() };
  private readonly globs: { user: Array<[Glob, PolicyRule]>; server: Array<[Glob, PolicyRule]> } = {
    user: [],
    server: [],
  };
  readonly size: number;

  constructor(readonly rules: readonly PolicyRule[]) {
    for (const r of rules) {
      if (r.sha256 !== undefined) {
        this.hashed[r.kind].set(r.sha256, r);
        continue;
      }
      const g = new Glob(r.entity);
      if (g.literal) this.literal[r.kind].set(r.entity, r);
      else this.globs[r.kind].push([g, r]);
    }
    this.size = rules.length;
  }

  /** The rule banning this user (by their id, or their server), if any. */
  match(mxid: string): PolicyRule | undefined {
    const byUser = this.literal.user.get(mxid);
    if (byUser) return byUser;
    const server = serverOf(mxid);
    const byServer = server === undefined ? undefined : this.literal.server.get(server);
    if (byServer) return byServer;
    if (this.globs.user.length) {
      const t = Array.from(mxid);
      for (const [g, r] of this.globs.user) if (g.test(t)) return r;
    }
    if (server !== undefined && this.globs.server.length) {
      const t = Array.from(server);
      for (const [g, r] of this.globs.server) if (g.test(t)) return r;
    }
    const byHash = this.hashed.user.size ? this.hashed.user.get(sha256Of(mxid)) : undefined;
    if (byHash) return byHash;
    return server !== undefined && this.hashed.server.size
      ? this.hashed.server.get(sha256Of(server))
      : undefined;
  }

  /** A stable identity of each rule, to see what changed between two reads of a list. */
  keys(): Set<string> {
    return new Set(this.rules.map(ruleKey));
  }
}

export function ruleKey(r: PolicyRule): string {
  return `${r.kind}\n${r.stateKey}\n${r.entity}`;
}

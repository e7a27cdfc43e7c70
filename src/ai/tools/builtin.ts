import type { RoomEvent } from "../../matrix/MatrixApi";
import { bodyOf } from "../context";
import type { HistoryReader } from "../HistoryReader";
import { isEdit } from "../triggers";
import { clock, optInt, optString, parseWhen } from "./args";
import type { AiTool, ToolContext } from "./types";

/** Most events one search or span reads (the newest of its span). */
const SCAN_EVENTS = 1000;
/** A search without `since` looks this far back. */
const DEFAULT_SEARCH_MS = 30 * 86_400_000;
/** Longest message text in a search result. */
const RESULT_CHARS = 300;

export interface BuiltinDeps {
  history: HistoryReader;
  /** Joined members and their display names. */
  members(roomId: string): Promise<Record<string, { display_name?: string }>>;
  /** The platform a user writes from (`telegram` for its ghosts), undefined for Matrix users. */
  platformOf(mxid: string): string | undefined;
  aiUserId: string;
  botUserId: string;
  /** Messages starting with these are commands, not conversation. */
  commandPrefixes: string[];
}

interface Said {
  ts: number;
  sender: string;
  name: string;
  text: string;
}

function cut(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** A room's messages in a span as people said them: edits applied, notices, commands and redactions left out. */
async function messagesSince(
  deps: BuiltinDeps,
  ctx: ToolContext,
  sinceTs: number,
  untilTs: number,
): Promise<Said[]> {
  const { events, names } = await deps.history.readSince(ctx.roomId, sinceTs, SCAN_EVENTS);
  const edits = new Map<string, Record<string, unknown>>();
  for (const e of events) {
    const rel = e.content["m.relates_to"] as { event_id?: unknown } | undefined;
    const repl = e.content["m.new_content"];
    if (isEdit(e.content) && typeof rel?.event_id === "string" && repl && typeof repl === "object")
      edits.set(rel.event_id, repl as Record<string, unknown>);
  }
  const out: Said[] = [];
  for (const e of events as RoomEvent[]) {
    if (e.type !== "m.room.message" && e.type !== "m.sticker") continue;
    if (e.origin_server_ts > untilTs || isEdit(e.content) || e.unsigned?.redacted_because) continue;
    if (e.sender === deps.botUserId || e.event_id === ctx.triggerEventId) continue;
    const content = edits.get(e.event_id) ?? e.content;
    if (content.msgtype === "m.notice") continue;
    const text = bodyOf(e, content);
    if (!text || deps.commandPrefixes.some((p) => p && text.startsWith(p))) continue;
    out.push({ ts: e.origin_server_ts, sender: e.sender, name: speaker(deps, e.sender, names), text });
  }
  return out;
}

function speaker(deps: BuiltinDeps, mxid: string, names: Map<string, string>): string {
  if (mxid === deps.aiUserId) return "you (the AI)";
  const name = names.get(mxid) || mxid;
  const platform = deps.platformOf(mxid);
  // Ghost names usually say their platform already ("Tess (Telegram)").
  return platform && !name.toLowerCase().includes(platform.toLowerCase()) ? `${name} (${platform})` : name;
}

function line(s: Said, max = Number.POSITIVE_INFINITY): string {
  return `[${clock(s.ts)}] ${s.name}: ${cut(s.text.replace(/\s*\n\s*/g, " "), max)}`;
}

function span(
  args: Record<string, unknown>,
  ctx: ToolContext,
  defaultBackMs: number,
): { since: number; until: number } {
  const sinceText = optString(args, "since", 64);
  const untilText = optString(args, "until", 64);
  const since = sinceText ? parseWhen(sinceText, ctx.now, "since") : ctx.now - defaultBackMs;
  const until = untilText ? parseWhen(untilText, ctx.now, "until") : ctx.now;
  return { since, until: Math.max(since, until) };
}

const WHEN =
  'A time: a duration back like "30m", "2h", "1d", "1w", or "today", "yesterday", or an ISO date/time like "2026-01-31T09:00Z".';

/** search_room: messages of this room (every platform) matching words, a sender and a span. */
export function searchRoomTool(deps: BuiltinDeps): AiTool {
  return {
    name: "search_room",
    description:
      "Search this chat room's history (messages from every bridged platform) by words, sender and time. Returns matching messages, newest first, with time and sender.",
    parameters: {
      type: "object",
      properties: {
        query: {
          type: "string",
          description: "Words that must all appear in the message (case-insensitive).",
        },
        sender: { type: "string", description: "Part of the sender's name or user id." },
        since: { type: "string", description: `Search from this time (default 30 days back). ${WHEN}` },
        until: { type: "string", description: `Search up to this time (default now). ${WHEN}` },
        limit: { type: "integer", description: "Most results (1-50, default 10)." },
      },
    },
    async run(args, ctx) {
      const query = optString(args, "query");
      const sender = optString(args, "sender", 100)?.toLowerCase();
      const limit = optInt(args, "limit", 1, 50, 10);
      const { since, until } = span(args, ctx, DEFAULT_SEARCH_MS);
      const words = (query ?? "").toLowerCase().split(/\s+/).filter(Boolean);
      const said = await messagesSince(deps, ctx, since, until);
      const hits = said.filter((s) => {
        const text = s.text.toLowerCase();
        if (!words.every((w) => text.includes(w))) return false;
        return !sender || s.name.toLowerCase().includes(sender) || s.sender.toLowerCase().includes(sender);
      });
      const shownHits = hits.slice(-limit).reverse();
      const head = `${hits.length} matching message${hits.length === 1 ? "" : "s"} of ${said.length} searched (${clock(since)} to ${clock(until)} UTC)`;
      return {
        text: [head, ...shownHits.map((s) => line(s, RESULT_CHARS))].join("\n"),
        shown: `${hits.length} found`,
      };
    },
  };
}

/** read_span: what was said in a span, oldest first, for "what did I miss". */
export function readSpanTool(deps: BuiltinDeps): AiTool {
  return {
    name: "read_span",
    description:
      "Read everything said in this chat room (every bridged platform) in a time span, oldest first: for summaries such as 'what did I miss since yesterday'.",
    parameters: {
      type: "object",
      properties: {
        since: { type: "string", description: `Start of the span. ${WHEN}` },
        until: { type: "string", description: `End of the span (default now). ${WHEN}` },
      },
      required: ["since"],
    },
    async run(args, ctx) {
      const { since, until } = span(args, ctx, 86_400_000);
      const said = await messagesSince(deps, ctx, since, until);
      const head = `${said.length} message${said.length === 1 ? "" : "s"} from ${clock(since)} to ${clock(until)} UTC`;
      return { text: [head, ...said.map((s) => line(s))].join("\n"), shown: `${said.length} messages` };
    },
  };
}

/** who_is_here: the room's members and the platform each writes from. */
export function whoIsHereTool(deps: BuiltinDeps): AiTool {
  return {
    name: "who_is_here",
    description:
      "List the members of this chat room and the platform each one writes from (Matrix, Telegram, Discord, Slack, WhatsApp).",
    parameters: { type: "object", properties: {} },
    async run(_args, ctx) {
      const members = await deps.members(ctx.roomId);
      const rows: string[] = [];
      const count = new Map<string, number>();
      for (const [mxid, m] of Object.entries(members)) {
        if (mxid === deps.botUserId) continue;
        const platform = mxid === deps.aiUserId ? "matrix" : (deps.platformOf(mxid) ?? "matrix");
        count.set(platform, (count.get(platform) ?? 0) + 1);
        const who = mxid === deps.aiUserId ? "you (the AI)" : cut(m.display_name || mxid, 100);
        rows.push(`${who} — ${platform} (${mxid})`);
      }
      const by = [...count].map(([p, n]) => `${n} on ${p}`).join(", ");
      return { text: [`${rows.length} members: ${by}`, ...rows].join("\n"), shown: `${rows.length} members` };
    },
  };
}

/** The built-in tools named in `ai.tools.builtin`. */
export function builtinTools(deps: BuiltinDeps, names: readonly string[]): AiTool[] {
  const all = [searchRoomTool(deps), readSpanTool(deps), whoIsHereTool(deps)];
  return all.filter((t) => names.includes(t.name));
}

import type { AiMode } from "../config/types";
import { mentionedIds, parseMatrixHtml } from "../format";
import type { RoomEvent } from "../matrix/MatrixApi";

type Content = Record<string, unknown>;

/** What the trigger rules need to know about one message and its room. */
export interface TriggerInput {
  content: Content;
  aiUserId: string;
  aiName: string;
  /** The room's mode (its own setting, or the config default). */
  mode: AiMode;
  /** Whether the mode was set explicitly in this room (`!ai mode`). */
  modeSetInRoom: boolean;
  /** Two members or fewer: the AI and one person. */
  isDm: boolean;
  /** Sender of the event this one replies to, when it is a reply. */
  replyToSender?: string;
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

function relatesTo(content: Content): Content {
  const r = content["m.relates_to"];
  return typeof r === "object" && r !== null ? (r as Content) : {};
}

/** The event id this message replies to (`m.in_reply_to`), if any. */
export function replyTarget(content: Content): string | undefined {
  const reply = relatesTo(content)["m.in_reply_to"] as Content | undefined;
  return typeof reply?.event_id === "string" ? reply.event_id : undefined;
}

/** The thread root of a message in a thread. */
export function threadRoot(content: Content): string | undefined {
  const r = relatesTo(content);
  return r.rel_type === "m.thread" && typeof r.event_id === "string" ? r.event_id : undefined;
}

export function isEdit(content: Content): boolean {
  return relatesTo(content).rel_type === "m.replace";
}

/** Removes the quoted fallback (`> <@x> …` lines) that replies carry in their body. */
export function stripReplyFallback(body: string): string {
  if (!body.startsWith("> ")) return body;
  const lines = body.split("\n");
  let i = 0;
  while (i < lines.length && lines[i]!.startsWith(">")) i++;
  return lines.slice(i).join("\n").replace(/^\n+/, "");
}

/** A display-name mention, a pill (matrix.to link) or `m.mentions` naming the AI. */
export function mentionsAi(content: Content, aiUserId: string, aiName: string): boolean {
  const mentions = content["m.mentions"] as { user_ids?: unknown } | undefined;
  if (Array.isArray(mentions?.user_ids) && mentions.user_ids.includes(aiUserId)) return true;
  const html = typeof content.formatted_body === "string" ? content.formatted_body : "";
  // Pills outside the reply fallback, read by the one Matrix-HTML parser (percent-encoded or not).
  if (html && mentionedIds(parseMatrixHtml(html)).includes(aiUserId)) return true;
  const body = typeof content.body === "string" ? stripReplyFallback(content.body) : "";
  const localpart = aiUserId.slice(1, aiUserId.indexOf(":"));
  const words = [aiName, aiUserId, `@${localpart}`].filter(Boolean).map(escapeRegex);
  return new RegExp(`(^|[^\\p{L}\\p{N}_])(${words.join("|")})(?![\\p{L}\\p{N}_])`, "iu").test(body);
}

/** Only plain text (and emote) messages from people can trigger an answer; edits never do. */
export function isAnswerable(ev: RoomEvent): boolean {
  if (ev.type !== "m.room.message") return false;
  const c = ev.content as Content;
  if (c.msgtype !== "m.text" && c.msgtype !== "m.emote") return false;
  if (typeof c.body !== "string" || !c.body.trim()) return false;
  return !isEdit(c);
}

/**
 * Whether the AI answers: DMs always (unless the room switched it off), otherwise by mode —
 * `always`, `off`, or `mention`, where a reply to one of the AI's messages counts as one.
 */
export function shouldAnswer(t: TriggerInput): boolean {
  const mode = t.isDm && !t.modeSetInRoom ? "always" : t.mode;
  if (mode === "off") return false;
  if (mode === "always") return true;
  if (t.replyToSender === t.aiUserId) return true;
  return mentionsAi(t.content, t.aiUserId, t.aiName);
}

import type { RoomEvent } from "../matrix/MatrixApi";
import type { Attachment } from "./attachments";
import type { ChatMessage } from "./providers/types";
import type { Redactor } from "./redact";
import { isEdit, stripReplyFallback } from "./triggers";

type Content = Record<string, unknown>;

/** Everything context assembly needs; pure, so the exact request can be tested. */
export interface ContextInput {
  /** Room (or thread) events, oldest first, as read from the homeserver. */
  events: RoomEvent[];
  /** The event being answered; added when the homeserver did not return it yet. */
  trigger: RoomEvent;
  aiUserId: string;
  /** Senders whose messages are not conversation (the bridge bot). */
  skipSenders: Set<string>;
  /** Display names by user id (ghosts included); the localpart is used when missing. */
  names: Map<string, string>;
  systemPrompt: string;
  tokenBudget: number;
  /** Events up to this one (or this time) are forgotten (`!ai forget`). */
  forgetEventId?: string;
  forgetTs?: number;
  /** Messages starting with one of these (the AI's and the bridge's) are commands, not conversation. */
  commandPrefixes: string[];
  redact: Redactor;
  /** Events left out: the unfinished answer a resumed generation replaces. */
  skipEventIds?: Set<string>;
  /**
   * Fetched media by event id (see attachments.ts): images go on the message as `images` (the
   * text stand-in stays in `content`), text files' text follows their `[file: name]` line.
   */
  attachments?: Map<string, Attachment>;
}

/** What one image is counted as against the token budget (a low-detail tile). */
export const IMAGE_TOKENS = 85;

/** The tokens of one message: its text plus its images. */
export function messageTokens(m: ChatMessage): number {
  return estimateTokens(m.content) + (m.images?.length ?? 0) * IMAGE_TOKENS;
}

/** Most characters of one file's text: half the token budget, less room for its heading. */
export function maxFileChars(tokenBudget: number): number {
  return Math.max(0, (Math.floor(tokenBudget / 2) - 16) * 4);
}

/** `[file: name]` and the file's text, cut to `maxChars` (said so when cut). */
export function fileBlock(heading: string, text: string, cut: boolean, maxChars: number): string {
  let body = text;
  let shortened = cut;
  if (body.length > maxChars) {
    let end = maxChars;
    const code = body.charCodeAt(end - 1);
    if (code >= 0xd800 && code <= 0xdbff) end--;
    body = body.slice(0, Math.max(0, end));
    shortened = true;
  }
  return `${heading}\n${body}${shortened ? "\n[… the rest of the file is left out]" : ""}`;
}

/** A rough token count (about four characters per token plus per-message overhead). */
export function estimateTokens(text: string): number {
  return Math.ceil(text.length / 4) + 4;
}

/** The text of a message as the model reads it (`[image: name]` for media), or undefined for none. */
export function bodyOf(ev: RoomEvent, content: Content): string | undefined {
  if (typeof content.body !== "string") return undefined;
  const msgtype = content.msgtype;
  const body = stripReplyFallback(content.body).trim();
  if (!body) return undefined;
  if (msgtype === "m.image" || msgtype === "m.file" || msgtype === "m.video" || msgtype === "m.audio")
    return `[${String(msgtype).slice(2)}: ${body}]`;
  if (ev.type === "m.sticker") return `[sticker: ${body}]`;
  if (msgtype === "m.emote") return `* ${body}`;
  return body;
}

function localpart(mxid: string): string {
  const colon = mxid.indexOf(":");
  return mxid.slice(1, colon < 0 ? undefined : colon);
}

/** The newest replacement content per original event (edits by the original sender only). */
function latestEdits(events: RoomEvent[]): Map<string, { ts: number; content: Content }> {
  const senders = new Map(events.map((e) => [e.event_id, e.sender]));
  const edits = new Map<string, { ts: number; content: Content }>();
  const consider = (edit: RoomEvent) => {
    const rel = (edit.content as Content)["m.relates_to"] as Content | undefined;
    const target = rel?.event_id;
    const newContent = (edit.content as Content)["m.new_content"];
    if (typeof target !== "string" || typeof newContent !== "object" || newContent === null) return;
    const owner = senders.get(target);
    if (owner !== undefined && owner !== edit.sender) return;
    const prev = edits.get(target);
    if (!prev || prev.ts <= edit.origin_server_ts)
      edits.set(target, { ts: edit.origin_server_ts, content: newContent as Content });
  };
  for (const e of events) {
    if (isEdit(e.content as Content)) consider(e);
    // Bundled with the original by the homeserver (needed when the edit itself is out of range).
    const bundled = (e.unsigned?.["m.relations"] as Content | undefined)?.["m.replace"] as
      | RoomEvent
      | undefined;
    if (bundled && typeof bundled === "object" && bundled.content)
      consider({
        ...bundled,
        content: { ...bundled.content, "m.relates_to": { rel_type: "m.replace", event_id: e.event_id } },
      });
  }
  return edits;
}

/**
 * The chat request's messages: the system prompt, then the conversation oldest first, with
 * senders' display names, edits applied, redacted messages and commands dropped, patterns
 * redacted, and trimmed oldest first to the token budget (the trigger always stays).
 */
export function assembleContext(input: ContextInput): ChatMessage[] {
  let events = input.events.filter((e) => e.type === "m.room.message" || e.type === "m.sticker");
  if (!events.some((e) => e.event_id === input.trigger.event_id)) events.push(input.trigger);
  const edits = latestEdits(events);
  if (input.forgetEventId) {
    const at = events.findIndex((e) => e.event_id === input.forgetEventId);
    if (at >= 0) events = events.slice(at + 1);
  }
  if (input.forgetTs !== undefined) events = events.filter((e) => e.origin_server_ts > input.forgetTs!);
  const conversation: ChatMessage[] = [];
  for (const ev of events) {
    const content = ev.content as Content;
    if (isEdit(content) || ev.unsigned?.redacted_because || input.skipSenders.has(ev.sender)) continue;
    if (input.skipEventIds?.has(ev.event_id)) continue;
    const shown = edits.get(ev.event_id)?.content ?? content;
    if (shown.msgtype === "m.notice") continue; // bots' and the AI's own status notices
    let body = bodyOf(ev, shown);
    if (body === undefined || input.commandPrefixes.some((p) => p && body!.startsWith(p))) continue;
    if (ev.sender === input.aiUserId) {
      conversation.push({ role: "assistant", content: input.redact(body) });
    } else {
      const name = input.names.get(ev.sender) || localpart(ev.sender);
      const att = input.attachments?.get(ev.event_id);
      if (att?.kind === "text")
        body = fileBlock(body, att.text, att.truncated, maxFileChars(input.tokenBudget));
      const m: ChatMessage = { role: "user", content: input.redact(`${name}: ${body}`) };
      if (att?.kind === "image") m.images = [att.image];
      conversation.push(m);
    }
  }
  const system: ChatMessage = { role: "system", content: input.systemPrompt };
  let used = estimateTokens(system.content);
  const kept: ChatMessage[] = [];
  for (let i = conversation.length - 1; i >= 0; i--) {
    const m = conversation[i]!;
    const cost = messageTokens(m);
    if (kept.length > 0 && used + cost > input.tokenBudget) break;
    used += cost;
    kept.unshift(m);
  }
  return [system, ...kept];
}

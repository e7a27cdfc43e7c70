/**
 * Slack Events API payloads → RemoteEvents. Pure: user names and ids come from the context.
 * Never throws; a payload it cannot read is reported as malformed.
 */
import type { InlineImage, MediaRef, RemoteEvent, UserInfo } from "../../src/core/connector";
import { emojiFromName } from "./convert/emoji";
import { mrkdwnToMatrix } from "./convert/mrkdwn";

export interface InboundContext {
  team: string;
  /** The bridge's own bot user and bot ids in this workspace: their events are echoes. */
  botUserId: string;
  botId: string;
  /** The Matrix ghost of a Slack user of this workspace. */
  ghostUserId(slackUser: string): string;
  /** Profiles already looked up (users.info), by Slack user id. */
  profile(slackUser: string): UserInfo | undefined;
  channelName?(channel: string): string | undefined;
  /** The picture of a workspace custom emoji (aliases followed), from `emoji.list`; undefined for others. */
  customEmoji?(name: string): string | undefined;
}

export type Mapped =
  | { ok: true; events: RemoteEvent[] }
  | { ok: true; events: []; skipped: string }
  | { ok: false; reason: string };

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const s = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);

/** The remote user id of a Slack user: team and user, lowercase (Slack ids are upper case). */
export const remoteUserId = (team: string, user: string): string => `${team}_${user}`.toLowerCase();

/** The Slack team and user behind a remote user id. */
export function parseRemoteUserId(id: string): { team: string; user: string } | undefined {
  const m = /^(t[a-z0-9]+)_([uwb][a-z0-9]+)$/.exec(id);
  return m ? { team: m[1]!.toUpperCase(), user: m[2]!.toUpperCase() } : undefined;
}

const tsMillis = (ts: string): number => Math.round(Number(ts) * 1000) || Date.now();

/** Message subtypes that are ordinary messages. */
const MESSAGE_SUBTYPES = new Set([undefined, "file_share", "thread_broadcast", "me_message", "bot_message"]);

/** Users an event mentions or is sent by, to look up before mapping. */
export function usersOf(event: Obj): string[] {
  const out = new Set<string>();
  const add = (v: unknown): void => {
    if (typeof v === "string" && /^[UW][A-Z0-9]+$/.test(v)) out.add(v);
  };
  add(event.user);
  add(event.inviter);
  const inner = isObj(event.message) ? event.message : undefined;
  add(inner?.user);
  for (const t of [event.text, inner?.text])
    if (typeof t === "string") for (const m of t.matchAll(/<@([UW][A-Z0-9]+)/g)) add(m[1]);
  return [...out];
}

export function mapEvent(body: unknown, ctx: InboundContext): Mapped {
  try {
    return mapUnsafe(body, ctx);
  } catch (err) {
    return { ok: false, reason: err instanceof Error ? err.message : String(err) };
  }
}

function mapUnsafe(body: unknown, ctx: InboundContext): Mapped {
  if (!isObj(body) || body.type !== "event_callback" || !isObj(body.event))
    return { ok: false, reason: "not an event_callback with an event" };
  const e = body.event;
  const type = s(e.type);
  if (!type) return { ok: false, reason: "event without type" };
  const sender = (user: string | undefined) => {
    const id = user ?? "unknown";
    const info = user ? ctx.profile(user) : undefined;
    return {
      sender: { id: remoteUserId(ctx.team, id) },
      ...(info ? { senderInfo: info } : {}),
      ...(user === ctx.botUserId ? { fromSelf: true as const } : {}),
    };
  };
  /** The text converted; a new message also carries its custom emoji as inline images. */
  const body2 = (text: string, withImages = false) => {
    const images: InlineImage[] = [];
    const converted = mrkdwnToMatrix(text, {
      user: (id) => ({ mxid: ctx.ghostUserId(id), name: ctx.profile(id)?.displayName ?? id }),
      channelName: ctx.channelName,
      emoji: withImages
        ? (name) => {
            const url = ctx.customEmoji?.(name);
            if (!url) return undefined;
            if (!images.some((i) => i.id === name))
              images.push({ id: name, ref: { key: url, name: `${name}.png` } });
            return name;
          }
        : undefined,
    });
    return converted.html && images.length ? { ...converted, inlineImages: images } : converted;
  };

  switch (type) {
    case "message": {
      const channel = s(e.channel);
      const ts = s(e.ts);
      if (!channel || !ts) return { ok: false, reason: "message without channel or ts" };
      const chat = { id: channel };
      const subtype = s(e.subtype);
      if (subtype === "message_changed") {
        const m = e.message;
        if (!isObj(m) || !s(m.ts)) return { ok: false, reason: "message_changed without message.ts" };
        if (m.bot_id === ctx.botId || m.user === ctx.botUserId)
          return { ok: true, events: [], skipped: "own edit" };
        const prev = isObj(e.previous_message) ? e.previous_message : {};
        const text = typeof m.text === "string" ? m.text : "";
        if (prev.text === text) return { ok: true, events: [], skipped: "change without new text (unfurl)" };
        return {
          ok: true,
          events: [
            {
              kind: "edit",
              chat,
              id: m.ts as string,
              timestamp: tsMillis(ts),
              ...sender(s(m.user)),
              ...body2(text),
            },
          ],
        };
      }
      if (subtype === "message_deleted") {
        const id = s(e.deleted_ts);
        if (!id) return { ok: false, reason: "message_deleted without deleted_ts" };
        const prev = isObj(e.previous_message) ? e.previous_message : {};
        if (prev.bot_id === ctx.botId) return { ok: true, events: [], skipped: "own delete" };
        return {
          ok: true,
          events: [{ kind: "delete", chat, id, timestamp: tsMillis(ts), ...sender(s(prev.user)) }],
        };
      }
      if (subtype === "channel_topic" || subtype === "channel_purpose") {
        const topic = typeof e.topic === "string" ? e.topic : typeof e.purpose === "string" ? e.purpose : "";
        return {
          ok: true,
          events: [
            { kind: "chat-info", chat, timestamp: tsMillis(ts), ...sender(s(e.user)), info: { topic } },
          ],
        };
      }
      if (subtype === "channel_name") {
        const name = s(e.name);
        if (!name) return { ok: false, reason: "channel_name without name" };
        return {
          ok: true,
          events: [
            { kind: "chat-info", chat, timestamp: tsMillis(ts), ...sender(s(e.user)), info: { name } },
          ],
        };
      }
      if (!MESSAGE_SUBTYPES.has(subtype))
        return { ok: true, events: [], skipped: `message subtype ${subtype}` };
      if (e.bot_id === ctx.botId || e.user === ctx.botUserId)
        return { ok: true, events: [], skipped: "own message" };
      const user = s(e.user) ?? (s(e.bot_id) ? `B${String(e.bot_id).slice(1)}` : undefined);
      const text = typeof e.text === "string" ? e.text : "";
      const files = Array.isArray(e.files) ? e.files.filter(isObj) : [];
      const converted = body2(text, true);
      const out: RemoteEvent = {
        kind: "message",
        chat,
        id: ts,
        timestamp: tsMillis(ts),
        ...sender(user),
        ...converted,
        msgtype: subtype === "me_message" ? "emote" : "text",
      };
      if (subtype === "bot_message" && !ctx.profile(user ?? "") && s(e.username))
        out.senderInfo = { displayName: e.username as string, isBot: true };
      const thread = s(e.thread_ts);
      if (thread && thread !== ts) out.threadRoot = thread;
      if (files.length) out.attachments = files.map(fileRef).filter((f): f is MediaRef => f !== undefined);
      return { ok: true, events: [out] };
    }
    case "reaction_added":
    case "reaction_removed": {
      const item = e.item;
      const name = s(e.reaction);
      if (!isObj(item) || !s(item.channel) || !s(item.ts) || !name)
        return { ok: false, reason: `${type} without item.channel, item.ts or reaction` };
      if (item.type !== undefined && item.type !== "message")
        return { ok: true, events: [], skipped: "reaction on a file" };
      if (e.user === ctx.botUserId) return { ok: true, events: [], skipped: "own reaction" };
      return {
        ok: true,
        events: [
          {
            kind: type === "reaction_added" ? "reaction" : "reaction-remove",
            chat: { id: item.channel as string },
            target: item.ts as string,
            key: emojiFromName(name) ?? `:${name}:`,
            // A custom emoji reacts with its picture in Matrix (MSC4027).
            ...(!emojiFromName(name) && ctx.customEmoji?.(name) && type === "reaction_added"
              ? { keyImage: { key: ctx.customEmoji(name)!, name: `${name}.png` } }
              : {}),
            timestamp: tsMillis(s(e.event_ts) ?? ""),
            ...sender(s(e.user)),
          },
        ],
      };
    }
    case "member_joined_channel":
    case "member_left_channel": {
      const user = s(e.user);
      const channel = s(e.channel);
      if (!user || !channel) return { ok: false, reason: `${type} without user or channel` };
      if (user === ctx.botUserId) return { ok: true, events: [], skipped: "the bot's own membership" };
      const joined = type === "member_joined_channel";
      const target = { id: remoteUserId(ctx.team, user) };
      return {
        ok: true,
        events: [
          {
            kind: "member",
            chat: { id: channel },
            timestamp: tsMillis(s(e.event_ts) ?? ""),
            ...sender(joined ? (s(e.inviter) ?? user) : user),
            target,
            membership: joined ? "join" : "leave",
          },
        ],
      };
    }
    case "channel_rename":
    case "group_rename": {
      const c = e.channel;
      if (!isObj(c) || !s(c.id) || !s(c.name))
        return { ok: false, reason: `${type} without channel.id/name` };
      return {
        ok: true,
        events: [
          {
            kind: "chat-info",
            chat: { id: c.id as string },
            timestamp: tsMillis(s(e.event_ts) ?? ""),
            sender: { id: remoteUserId(ctx.team, "unknown") },
            info: { name: c.name as string },
          },
        ],
      };
    }
    default:
      return { ok: true, events: [], skipped: `event type ${type}` };
  }
}

/** A shared file as a MediaRef; the key is its private download URL. */
export function fileRef(f: Obj): MediaRef | undefined {
  const url = s(f.url_private_download) ?? s(f.url_private);
  if (!url) return undefined;
  const ref: { -readonly [K in keyof MediaRef]: MediaRef[K] } = { key: url };
  if (s(f.name)) ref.name = f.name as string;
  if (s(f.mimetype)) ref.mimetype = f.mimetype as string;
  if (typeof f.size === "number") ref.size = f.size;
  // Images carry original_w/original_h; audio and video a duration_ms.
  if (typeof f.original_w === "number" && typeof f.original_h === "number") {
    ref.width = f.original_w;
    ref.height = f.original_h;
  }
  if (typeof f.duration_ms === "number") ref.durationMs = f.duration_ms;
  // A video's thumbnail, fetched with the bot token like the file.
  const thumb = s(f.thumb_video);
  if (thumb && /^https?:\/\//.test(thumb) && (ref.mimetype ?? "").startsWith("video/")) {
    const px = (n: unknown) => (typeof n === "number" && Number.isInteger(n) && n > 0 ? n : undefined);
    const [width, height] = [px(f.thumb_video_w), px(f.thumb_video_h)];
    ref.thumbnail = {
      ref: { key: thumb, mimetype: "image/jpeg", name: "thumbnail.jpg" },
      ...(width && height ? { width, height } : {}),
    };
  }
  return ref;
}

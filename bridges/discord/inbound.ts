/**
 * discord.js objects → the core's types: RemoteEvents, chat and user info, media. Threads
 * belong to their parent channel's portal (`threadRoot` is the thread id, which is the id of
 * the message it was started from); DMs are their own portal.
 */
import type {
  Channel,
  Client,
  Guild,
  GuildMember,
  Message,
  PartialMessage,
  PartialUser,
  User,
} from "discord.js";
import type {
  ChatInfo,
  InlineImage,
  Media,
  MediaRef,
  MediaThumbnail,
  RemoteChatRef,
  RemoteMessage,
  RemotePoll,
  RemoteUserRef,
  UserInfo,
} from "../../src/core/connector";
import {
  discordToMatrix,
  embedToText,
  escapeHtml,
  type MentionResolver,
  stickerMedia,
} from "./convert/index";

export interface InboundDeps {
  ghostUserId(id: string): string;
  /** `#<alias prefix><channel id>:<domain>`. */
  channelAlias(id: string): string;
  cdn: string;
}

/** The portal chat of a channel, and the thread inside it when the channel is a thread. */
export function chatOf(
  channel: Channel | null | undefined,
  channelId: string,
): { chat: RemoteChatRef; thread?: string } {
  if (channel?.isThread() && channel.parentId) return { chat: { id: channel.parentId }, thread: channel.id };
  return { chat: { id: channelId } };
}

export function avatarRef(url: string | null | undefined): MediaRef | undefined {
  return url ? { key: url, mimetype: "image/png", name: "avatar.png" } : undefined;
}

/** Name and avatar as shown in a guild (nickname and guild avatar win). */
export function profileOf(user: User | PartialUser, member?: GuildMember | null): UserInfo {
  const name = member?.nickname || user.globalName || user.username || user.id;
  const url =
    member?.avatar && member.avatarURL
      ? member.avatarURL({ extension: "png", size: 256 })
      : user.avatar
        ? user.avatarURL({ extension: "png", size: 256 })
        : undefined;
  const info: UserInfo = { displayName: name };
  const avatar = avatarRef(url);
  if (avatar) info.avatar = avatar;
  if (user.bot) info.isBot = true;
  return info;
}

export function resolver(
  deps: InboundDeps,
  msg: Message | PartialMessage,
  guild: Guild | null,
): MentionResolver {
  return {
    user: (id) => {
      const member = guild?.members.cache.get(id);
      const user = msg.mentions?.users.get(id) ?? msg.client.users.cache.get(id);
      const name = member?.displayName ?? user?.globalName ?? user?.username ?? id;
      return { name, mxid: deps.ghostUserId(id) };
    },
    channel: (id) => {
      const c = msg.client.channels.cache.get(id);
      const name = c && "name" in c && c.name ? c.name : id;
      const bridged = c?.isThread() && c.parentId ? c.parentId : id;
      return { name, alias: deps.channelAlias(bridged) };
    },
    role: (id) => guild?.roles.cache.get(id)?.name,
  };
}

/** MessageFlags.IsVoiceMessage. */
const VOICE_MESSAGE_FLAG = 1 << 13;

/** A Discord poll as an MSC3381 poll (answers by their Discord ids) and its text fallback. */
function pollOf(msg: Message): { poll: RemotePoll; text: string } | undefined {
  const p = msg.poll;
  const question = p?.question?.text?.trim().slice(0, 300);
  if (!p || !question) return undefined;
  const answers = [...p.answers.values()]
    .slice(0, 20)
    .map((a) => ({
      id: String(a.id),
      text: `${a.emoji?.name ? `${a.emoji.name} ` : ""}${a.text ?? ""}`.trim().slice(0, 300),
    }))
    .filter((a) => a.text !== "");
  if (!answers.length) return undefined;
  return {
    text: [`Poll: ${question}`, ...answers.map((a, i) => `${i + 1}. ${a.text}`)].join("\n"),
    poll: { question, answers, disclosed: true, maxSelections: p.allowMultiselect ? answers.length : 1 },
  };
}

/** A Discord message as a RemoteMessage (undefined for system messages). */
export function toRemoteMessage(deps: InboundDeps, msg: Message): RemoteMessage | undefined {
  if (msg.system) return undefined;
  const { chat, thread } = chatOf(msg.channel, msg.channelId);
  // Custom emoji as images (uploaded once each by the core), from Discord's CDN.
  const inlineImages: InlineImage[] = [];
  const converted = discordToMatrix(msg.content ?? "", {
    ...resolver(deps, msg, msg.guild),
    emoji: (id, name, animated) => {
      if (!/^\d{1,20}$/.test(id)) return undefined;
      inlineImages.push({ id, ref: emojiRef(deps.cdn, id, name, animated) });
      return id;
    },
  });
  let text = converted.body;
  let html = converted.html;
  const rich = msg.embeds.filter((e) => e.data.type === undefined || e.data.type === "rich");
  if (rich.length) {
    const embedText = rich.map((e) => embedToText(e)).join("\n");
    text = text ? `${text}\n${embedText}` : embedText;
    if (html) html = `${html}<br>${escapeHtml(embedText).replace(/\n/g, "<br>")}`;
  }
  const attachments: MediaRef[] = [...msg.attachments.values()].map((a) => ({
    key: a.url,
    mimetype: a.contentType ?? "application/octet-stream",
    name: a.name,
    size: a.size,
    ...(a.width && a.height ? { width: a.width, height: a.height } : {}),
    // Discord gives a duration (in seconds) for voice messages only.
    ...(typeof a.duration === "number" ? { durationMs: a.duration * 1000 } : {}),
    ...videoThumbnail(a.contentType, a.proxyURL),
  }));
  for (const s of msg.stickers.values()) {
    const media = stickerMedia(s.format, s.id, deps.cdn);
    if (media)
      attachments.push({
        key: media.url,
        mimetype: media.mimetype,
        name: `${s.name}.${media.mimetype.split("/")[1]}`,
      });
    else text = text ? `${text}\n[sticker: ${s.name}]` : `[sticker: ${s.name}]`;
  }
  // Discord marks a message recorded in the app as a voice message: a voice bubble in Matrix.
  if ((msg.flags?.bitfield ?? 0) & VOICE_MESSAGE_FLAG && attachments[0]) {
    // Discord's waveform: base64 bytes of 0–255; Matrix takes 0–1024.
    const wave = msg.attachments.first()?.waveform;
    const samples = wave
      ? [...Buffer.from(wave, "base64")].slice(0, 256).map((b) => Math.round((b / 255) * 1024))
      : [];
    attachments[0] = { ...attachments[0], voice: true, ...(samples.length ? { waveform: samples } : {}) };
  }
  const poll = pollOf(msg);
  if (poll) text = [text, poll.text].filter(Boolean).join("\n");
  const ev: RemoteMessage = {
    kind: "message",
    chat,
    sender: { id: msg.author.id },
    senderInfo: profileOf(msg.author, msg.member),
    timestamp: msg.createdTimestamp,
    id: msg.id,
    text,
  };
  if (html && !poll) ev.html = html;
  if (html && !poll && inlineImages.length) ev.inlineImages = inlineImages;
  if (poll) ev.poll = poll.poll;
  if (attachments.length) ev.attachments = attachments;
  if (thread) ev.threadRoot = thread;
  const replyTo = msg.reference?.messageId;
  if (replyTo && msg.reference?.channelId === msg.channelId) ev.replyTo = replyTo;
  return ev;
}

/** A custom emoji's image on Discord's CDN (GIF when animated). */
export function emojiRef(cdn: string, id: string, name: string, animated: boolean): MediaRef {
  const ext = animated ? "gif" : "png";
  return { key: `${cdn}/emojis/${id}.${ext}`, mimetype: `image/${ext}`, name: `${name}.${ext}` };
}

/** The Matrix reaction key of a Discord emoji: the emoji itself, or `:name:` for a custom one. */
export function reactionKey(emoji: { id: string | null; name: string | null }): string {
  return emoji.id ? `:${emoji.name ?? emoji.id}:` : (emoji.name ?? "?");
}

/** A channel as the core sees it: DM or group, name, topic, and its guild as the space. */
export async function chatInfoOf(discord: Client, chat: RemoteChatRef): Promise<ChatInfo> {
  const c = await discord.channels.fetch(chat.id);
  if (!c) throw Object.assign(new Error(`unknown Discord channel ${chat.id}`), { status: 404 });
  if (c.isDMBased()) {
    const other = "recipient" in c ? c.recipient : null;
    return { kind: "dm", name: other ? (other.globalName ?? other.username) : "Discord DM" };
  }
  const info: ChatInfo = { kind: "group", name: "name" in c && c.name ? c.name : chat.id };
  if ("topic" in c && typeof c.topic === "string" && c.topic) info.topic = c.topic;
  if ("guild" in c) {
    const avatar = avatarRef(c.guild.iconURL({ extension: "png", size: 256 }));
    info.space = { id: c.guild.id, name: c.guild.name, ...(avatar ? { avatar } : {}) };
  }
  return info;
}

/** A user's profile, with the nickname and avatar of a guild they are known in. */
export async function userInfoOf(discord: Client, user: RemoteUserRef): Promise<UserInfo> {
  const u = await discord.users.fetch(user.id);
  const member = discord.guilds.cache.find((g) => g.members.cache.has(user.id))?.members.cache.get(user.id);
  return profileOf(u, member);
}

/** Downloads an attachment, sticker or avatar from Discord's CDN. */
/**
 * A video attachment's thumbnail: Discord's media proxy renders a video's first frame when its
 * URL asks for `format=jpeg` (what Discord's own clients show as the poster).
 */
export function videoThumbnail(
  contentType: string | null | undefined,
  proxyUrl: string | null | undefined,
): { thumbnail?: MediaThumbnail } {
  if (!contentType?.startsWith("video/") || !proxyUrl) return {};
  let url: URL;
  try {
    url = new URL(proxyUrl);
  } catch {
    return {};
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return {};
  url.searchParams.set("format", "jpeg");
  return { thumbnail: { ref: { key: url.toString(), mimetype: "image/jpeg", name: "thumbnail.jpg" } } };
}

export async function fetchDiscordMedia(ref: MediaRef): Promise<Media> {
  const res = await fetch(ref.key);
  if (!res.ok) throw Object.assign(new Error(`Discord media answered ${res.status}`), { status: res.status });
  return {
    data: Buffer.from(await res.arrayBuffer()),
    mimetype: res.headers.get("content-type") ?? ref.mimetype ?? "application/octet-stream",
    name: ref.name ?? "file",
  };
}

/**
 * Matrix → Discord: messages through the channel's webhook under the Matrix sender's name and
 * avatar (the bot with a bold name prefix where webhooks are refused), split at 2000
 * characters; edits, deletes, reactions, typing, moderation and channel renames.
 */
import { createHash } from "node:crypto";
import {
  type AttachmentPayload,
  type Client,
  DiscordAPIError,
  type GuildTextBasedChannel,
  type Message,
  type MessageCreateOptions,
  MessageFlags,
  Routes,
  type TextBasedChannel,
  type WebhookClient,
} from "discord.js";
import type {
  ConnectorContext,
  OutboundMessage,
  RemoteChatRef,
  RemoteUserRef,
  SentRef,
} from "../../src/core/connector";
import { fitImage } from "../../src/core/downscale";
import { BridgeError } from "../../src/core/errors";
import type { DiscordConfig } from "./config";
import {
  emote,
  htmlToDiscord,
  prefixed,
  replyQuote,
  splitMessage,
  stripReplyFallback,
  voiceMessage,
  webhookUsername,
} from "./convert/index";
import type { Webhooks } from "./Webhooks";

export interface SenderDeps {
  ctx: ConnectorContext;
  cfg: DiscordConfig;
  discord: Client;
  webhooks: Webhooks;
  domain: string;
  aliasPrefix: string;
  /** Tells the channel's Matrix room something, as the bot. */
  notice(channelId: string, text: string): Promise<void>;
}

const MB = 1024 * 1024;
/** How long Discord remembers a nonce ("the past few minutes"): a later repeat is looked up. */
const NONCE_WINDOW_MS = 2 * 60_000;

/**
 * The nonce of one part of a relayed Matrix event: the same on every attempt, so Discord
 * (with `enforce_nonce`) returns the message a crashed attempt already created instead of
 * posting it again. Discord takes at most 25 characters: a base64url SHA-256 prefix (150 bits).
 */
export function discordNonce(eventId: string, part: number): string {
  return createHash("sha256").update(`${eventId}\u0000${part}`).digest("base64url").slice(0, 25);
}

/** Discord's longest timeout is 28 days; a little less, so the clock of the request cannot push it over. */
const MAX_TIMEOUT_MS = 28 * 86_400_000 - 60_000;

export class DiscordSender {
  private readonly deleted = new Set<string>();
  private readonly told = new Set<string>();

  constructor(private readonly d: SenderDeps) {}

  /** Whether the bridge deleted this message itself (its gateway echo is not bridged back). */
  deletedByUs(id: string): boolean {
    return this.deleted.has(id);
  }

  private async channel(id: string): Promise<TextBasedChannel> {
    const c = await this.d.discord.channels.fetch(id);
    if (!c?.isTextBased()) throw new BridgeError(`Discord channel ${id} is not a text channel`);
    return c;
  }

  /** Matrix content → Discord markdown and the users it may ping. */
  private content(msg: OutboundMessage): { text: string; users: string[] } {
    if (msg.html) {
      const t = htmlToDiscord(msg.html, {
        discordUser: (mxid) => this.d.ctx.remoteUserIdOf(mxid),
        discordChannel: (room) => {
          const m = new RegExp(`^#${this.d.aliasPrefix}(\\d+):`).exec(room);
          return m && room.endsWith(`:${this.d.domain}`) ? m[1] : undefined;
        },
      });
      return { text: t.content, users: t.users };
    }
    return { text: msg.replyTo ? stripReplyFallback(msg.text) : msg.text, users: [] };
  }

  private async files(msg: OutboundMessage): Promise<AttachmentPayload[]> {
    if (!msg.attachment) return [];
    // An image over the upload limit is downscaled to fit; other files over it are refused.
    const a = await fitImage(msg.attachment, { maxBytes: this.d.cfg.maxUploadBytes });
    if (a.media.data.length > this.d.cfg.maxUploadBytes) {
      const limit = Math.round((this.d.cfg.maxUploadBytes / MB) * 10) / 10;
      throw new BridgeError(
        `${a.media.name} is ${(a.media.data.length / MB).toFixed(1)} MB, over Discord's ${limit} MB upload limit`,
      );
    }
    return [{ attachment: a.media.data, name: a.media.name }];
  }

  /** The channel a message lives in: its thread when it is in one. */
  private where(chat: RemoteChatRef, thread?: string): string {
    return thread ?? chat.threadId ?? chat.id;
  }

  async send(chat: RemoteChatRef, msg: OutboundMessage): Promise<SentRef> {
    const content = this.content(msg);
    const { users } = content;
    const files = await this.files(msg);
    // A voice message takes no content: any text goes first, the voice message alone after it.
    const voice = voiceMessage(msg.attachment);
    const voiceFiles = voice
      ? files.map((f) => ({ ...f, duration: voice.durationSecs, waveform: voice.waveform }))
      : [];
    const textFiles = voice ? [] : files;
    // Clients name a recording in its body ("Voice message" for "Voice message.ogg"): no caption.
    const named = msg.attachment?.media.name.replace(/\.[A-Za-z0-9]{1,5}$/, "");
    const text = voice && content.text === named ? "" : content.text;
    const thread = msg.threadRoot ? await this.threadFor(chat, msg.threadRoot) : undefined;
    const target = this.where(chat, thread);
    const channel = await this.channel(target);
    const allowedMentions = { parse: [] as [], users };
    const hook = channel.isDMBased() ? undefined : await this.d.webhooks.get(chat.id);
    const ids: string[] = [];
    let timestamp = Date.now();
    if (hook) {
      let body = msg.msgtype === "emote" ? emote(text) : text;
      if (msg.replyTo) body = (await this.quote(channel, msg.replyTo)) + body;
      const parts = body ? splitMessage(body) : voice ? [] : [""];
      // Webhooks take no nonce: a message that may have been posted before a crash is looked
      // up among the webhook's recent messages in the channel instead.
      const name = webhookUsername(msg.sender.displayName, msg.sender.mxid);
      const earlier = msg.again
        ? await this.postedEarlier(
            channel,
            parts,
            msg,
            (m) => m.webhookId === hook.id && m.author.username === name,
          )
        : [];
      for (const [i, part] of parts.entries()) {
        const found = earlier[i];
        if (found) {
          ids.push(found.id);
          timestamp = found.createdTimestamp;
          continue;
        }
        const sent = await this.viaWebhook(hook, chat.id, {
          content: part || undefined,
          username: webhookUsername(msg.sender.displayName, msg.sender.mxid),
          avatarURL: msg.sender.avatarUrl,
          files: i === 0 ? textFiles : [],
          threadId: thread,
          allowedMentions,
        });
        ids.push(sent.id);
        if (thread) await this.rememberThread(sent.id, thread);
        timestamp = Date.parse(sent.timestamp) || timestamp;
      }
      if (voice) {
        const sent = await this.viaWebhook(hook, chat.id, {
          username: name,
          avatarURL: msg.sender.avatarUrl,
          files: voiceFiles,
          flags: MessageFlags.IsVoiceMessage,
          threadId: thread,
        });
        ids.push(sent.id);
        if (thread) await this.rememberThread(sent.id, thread);
        timestamp = Date.parse(sent.timestamp) || timestamp;
      }
      return { ids, timestamp };
    }
    if (!channel.isDMBased() && !this.told.has(chat.id) && this.d.webhooks.isRefused(chat.id)) {
      this.told.add(chat.id);
      await this.d
        .notice(
          chat.id,
          "The Discord bot may not manage webhooks in this channel, so Matrix messages appear as the bot with the sender's name in front. Give it Manage Webhooks to relay names and avatars.",
        )
        .catch((err: unknown) => this.d.ctx.log.warn("discord: notice failed", { err: String(err) }));
    }
    const body =
      channel.isDMBased() && msg.msgtype !== "emote"
        ? text
        : prefixed(msg.sender.displayName || msg.sender.mxid, text, msg.msgtype);
    const parts = voice && !body ? [] : splitMessage(body);
    // The nonce covers a repeat within Discord's few minutes; a later one (a long outage before
    // the restart) is looked up like a webhook's.
    const me = this.d.discord.user?.id;
    const earlier =
      msg.again && msg.eventTs !== undefined && Date.now() - msg.eventTs > NONCE_WINDOW_MS
        ? await this.postedEarlier(channel, parts, msg, (m) => m.author.id === me && !m.webhookId)
        : [];
    for (const [i, part] of parts.entries()) {
      const found = earlier[i];
      if (found) {
        ids.push(found.id);
        timestamp = found.createdTimestamp;
        continue;
      }
      const options: MessageCreateOptions = { content: part, allowedMentions };
      if (msg.eventId) Object.assign(options, { nonce: discordNonce(msg.eventId, i), enforceNonce: true });
      if (i === 0) {
        options.files = textFiles;
        if (msg.replyTo) options.reply = { messageReference: msg.replyTo, failIfNotExists: false };
      }
      const sent = await this.sendAsBot(channel, options);
      ids.push(sent.id);
      if (thread) await this.rememberThread(sent.id, thread);
      timestamp = sent.createdTimestamp;
    }
    if (voice) {
      const options: MessageCreateOptions = { files: voiceFiles, flags: MessageFlags.IsVoiceMessage };
      if (msg.eventId)
        Object.assign(options, { nonce: discordNonce(msg.eventId, parts.length), enforceNonce: true });
      if (msg.replyTo && parts.length === 0)
        options.reply = { messageReference: msg.replyTo, failIfNotExists: false };
      const sent = await this.sendAsBot(channel, options);
      ids.push(sent.id);
      if (thread) await this.rememberThread(sent.id, thread);
      timestamp = sent.createdTimestamp;
    }
    return { ids, timestamp };
  }

  /**
   * A native poll, posted by the bot (a webhook's poll could not be ended from Matrix: only its
   * author may end a poll). The nonce makes a repeat after a crash the same message.
   */
  async sendPoll(
    chat: RemoteChatRef,
    msg: OutboundMessage,
    poll: MessageCreateOptions["poll"],
  ): Promise<Message> {
    const thread = msg.threadRoot ? await this.threadFor(chat, msg.threadRoot) : undefined;
    const channel = await this.channel(this.where(chat, thread));
    const options: MessageCreateOptions = { poll, allowedMentions: { parse: [] } };
    if (msg.eventId) Object.assign(options, { nonce: discordNonce(msg.eventId, 0), enforceNonce: true });
    if (msg.replyTo) options.reply = { messageReference: msg.replyTo, failIfNotExists: false };
    const sent = await this.sendAsBot(channel, options);
    if (thread) await this.rememberThread(sent.id, thread);
    return sent;
  }

  /**
   * Ends a poll the bot posted (`POST /channels/{channel}/polls/{message}/expire`). A message
   * that is no poll (it went out as text) or a poll that ended already is left as it is.
   */
  async endPoll(chat: RemoteChatRef, messageId: string): Promise<void> {
    const where = (await this.d.ctx.store.kvGet(`in:${messageId}`)) ?? chat.id;
    try {
      await this.d.discord.rest.post(Routes.expirePoll(where, messageId));
    } catch (err) {
      // 520001: the poll ended already; 520006: not a poll; 10008: the message is gone.
      if (err instanceof DiscordAPIError && [520001, 520006, 10008].includes(Number(err.code))) {
        this.d.ctx.log.info("discord: poll not ended", { message: messageId, err: err.message });
        return;
      }
      throw err;
    }
  }

  /**
   * For each part, the message already posted for it before a crash, if any: among the newest
   * page of the channel, the bridge's `own` messages (the webhook's under the sender's name,
   * or the bot's) with the part's text, no older than the event and not mapped to another event.
   */
  private async postedEarlier(
    channel: TextBasedChannel,
    parts: string[],
    msg: OutboundMessage,
    own: (m: Message) => boolean,
  ): Promise<Array<Message | undefined>> {
    const page = await channel.messages.fetch({ limit: 50, cache: false });
    const since = (msg.eventTs ?? 0) - 60_000; // the two clocks may differ a little
    const candidates = [...page.values()]
      .filter((m) => own(m) && m.createdTimestamp >= since)
      .sort((a, b) => a.createdTimestamp - b.createdTimestamp || (BigInt(a.id) < BigInt(b.id) ? -1 : 1));
    if (!candidates.length) return [];
    const mapped = new Set(
      (
        await this.d.ctx.store.query<{ remote_id: string }>(
          "SELECT remote_id FROM message WHERE platform = 'discord' AND remote_id = ANY($1)",
          [candidates.map((m) => m.id)],
        )
      ).map((r) => r.remote_id),
    );
    const found: Array<Message | undefined> = [];
    let from = 0;
    for (const part of parts) {
      const i = candidates.findIndex((m, j) => j >= from && !mapped.has(m.id) && m.content === part);
      if (i < 0) break; // parts go out in order: the first missing one and all after it are sent
      found.push(candidates[i]);
      from = i + 1;
    }
    if (found.length)
      this.d.ctx.log.info("discord: message found already posted, not sent again", { parts: found.length });
    return found;
  }

  /** The thread of a root message, started on Discord when a Matrix user opens one. */
  private async threadFor(chat: RemoteChatRef, root: string): Promise<string | undefined> {
    const known =
      this.d.discord.channels.cache.get(root) ??
      (await this.d.discord.channels.fetch(root).catch(() => null));
    if (known?.isThread()) return known.id;
    const parent = await this.channel(chat.id);
    if (!("threads" in parent)) return undefined;
    try {
      const starter = await parent.messages.fetch(root);
      const name = (starter.content || "Thread").split("\n")[0].slice(0, 80);
      const thread = await parent.threads.create({ startMessage: root, name });
      return thread.id;
    } catch (err) {
      this.d.ctx.log.warn("discord: thread not started, sending to the channel", { root, err: String(err) });
      return undefined;
    }
  }

  private async sendAsBot(channel: TextBasedChannel, options: MessageCreateOptions): Promise<Message> {
    if (!("send" in channel)) throw new BridgeError("the bot cannot post in this Discord channel");
    return (channel as GuildTextBasedChannel).send(options);
  }

  private async viaWebhook(
    hook: WebhookClient,
    channelId: string,
    options: Parameters<WebhookClient["send"]>[0] & object,
  ): Promise<{ id: string; timestamp: string }> {
    try {
      return await hook.send(options);
    } catch (err) {
      if (err instanceof DiscordAPIError && err.status === 404) {
        // Deleted on Discord: make a new one next time; this attempt is retried by the core.
        await this.d.webhooks.forget(channelId);
        throw Object.assign(new Error("the channel's webhook was deleted"), { status: 503, cause: err });
      }
      throw err;
    }
  }

  /** A quoted line naming who is answered (webhooks cannot reply natively). */
  private async quote(channel: TextBasedChannel, replyTo: string): Promise<string> {
    try {
      const orig = await channel.messages.fetch(replyTo);
      const guildId = "guildId" in channel ? channel.guildId : "@me";
      const name = orig.member?.displayName ?? orig.author.globalName ?? orig.author.username;
      return replyQuote(
        name,
        orig.content,
        `https://discord.com/channels/${guildId}/${channel.id}/${replyTo}`,
      );
    } catch {
      return "";
    }
  }

  async edit(chat: RemoteChatRef, remoteId: string, msg: OutboundMessage): Promise<void> {
    const { text } = this.content(msg);
    const content = splitMessage(msg.msgtype === "emote" ? emote(text) : text)[0];
    const channel = await this.locate(chat, remoteId);
    const hook = channel.isDMBased() ? undefined : await this.d.webhooks.get(chat.id);
    if (hook) {
      try {
        await hook.editMessage(remoteId, { content, threadId: channel.isThread() ? channel.id : undefined });
        return;
      } catch (err) {
        if (!(err instanceof DiscordAPIError) || (err.status !== 404 && err.status !== 403)) throw err;
      }
    }
    const body = channel.isDMBased()
      ? content
      : prefixed(msg.sender.displayName || msg.sender.mxid, content, msg.msgtype);
    await channel.messages.edit(remoteId, { content: splitMessage(body)[0] });
  }

  /** The channel (or thread) holding a message the bridge knows only by id. */
  private async locate(chat: RemoteChatRef, remoteId: string): Promise<TextBasedChannel> {
    const stored = await this.d.ctx.store.kvGet(`in:${remoteId}`);
    return this.channel(stored || this.where(chat));
  }

  /** Remembers that a message lives in a thread (edits and deletes must go there). */
  async rememberThread(messageId: string, threadId: string): Promise<void> {
    await this.d.ctx.store.kvSet(`in:${messageId}`, threadId);
  }

  async delete(chat: RemoteChatRef, remoteId: string): Promise<void> {
    const channel = await this.locate(chat, remoteId);
    this.deleted.add(remoteId);
    if (this.deleted.size > 5000) this.deleted.delete(this.deleted.values().next().value!);
    try {
      await channel.messages.delete(remoteId);
    } catch (err) {
      if (err instanceof DiscordAPIError && err.code === 10008) return; // already gone
      throw err;
    }
  }

  /** Reactions are the bot's own: Discord has no reactions on behalf of a webhook. */
  async react(chat: RemoteChatRef, target: string, key: string, remove: boolean): Promise<void> {
    const channel = await this.locate(chat, target);
    let emoji = key;
    const custom = /^:(\w+):$/.exec(key);
    if (custom && "guild" in channel) {
      const e = channel.guild.emojis.cache.find((x) => x.name === custom[1]);
      if (!e) return; // a Matrix-only emoji Discord cannot show
      emoji = `${e.name}:${e.id}`;
    }
    const route = `/channels/${channel.id}/messages/${target}/reactions/${encodeURIComponent(emoji)}/@me`;
    if (remove) await this.d.discord.rest.delete(route as `/${string}`);
    else await this.d.discord.rest.put(route as `/${string}`);
  }

  async typing(chat: RemoteChatRef): Promise<void> {
    const channel = await this.channel(this.where(chat));
    if ("sendTyping" in channel) await channel.sendTyping();
  }

  async moderate(
    chat: RemoteChatRef,
    user: RemoteUserRef,
    action: "kick" | "ban" | "unban",
    reason?: string,
  ): Promise<void> {
    if (!this.d.cfg.moderation)
      throw Object.assign(
        new Error("moderation is off in platforms.discord (set moderation: true to mirror kicks and bans)"),
        { status: 403 },
      );
    const channel = await this.channel(chat.id);
    if (!("guild" in channel)) throw Object.assign(new Error("not a guild channel"), { status: 400 });
    const guild = channel.guild;
    if (action === "kick") await guild.members.kick(user.id, reason);
    else if (action === "ban") await guild.bans.create(user.id, reason ? { reason } : {});
    else await guild.bans.remove(user.id);
  }

  /** A timeout until `until` (ms since the epoch; null lifts it), capped at Discord's 28 days. */
  async timeout(
    chat: RemoteChatRef,
    user: RemoteUserRef,
    until: number | null,
    reason?: string,
  ): Promise<void> {
    if (!this.d.cfg.moderation)
      throw new BridgeError(
        "moderation is off in platforms.discord (a bridge admin can set moderation: true)",
      );
    const channel = await this.channel(chat.id);
    if (!("guild" in channel)) throw new BridgeError("Discord has timeouts only in servers, not in DMs");
    const end = until === null ? null : new Date(Math.min(until, Date.now() + MAX_TIMEOUT_MS));
    try {
      await channel.guild.members.edit(user.id, { communicationDisabledUntil: end, reason });
    } catch (err) {
      if (err instanceof DiscordAPIError && err.code === 50013)
        throw new BridgeError(
          "the bot lacks the Moderate Members permission on this Discord server, or they rank above it",
          err,
        );
      if (err instanceof DiscordAPIError && err.code === 10007)
        throw new BridgeError("they are no longer a member of the Discord server", err);
      throw err;
    }
  }

  async editChannel(chat: RemoteChatRef, change: { name?: string; topic?: string }): Promise<void> {
    const channel = await this.channel(chat.id);
    if (!("edit" in channel) || channel.isDMBased() || channel.isThread())
      throw Object.assign(new Error("this Discord channel cannot be renamed"), { status: 400 });
    const name = change.name?.toLowerCase().replace(/\s+/g, "-").slice(0, 100);
    await (channel as GuildTextBasedChannel & { edit(o: object): Promise<unknown> }).edit({
      ...(name ? { name } : {}),
      ...(change.topic !== undefined ? { topic: change.topic.slice(0, 1024) } : {}),
    });
  }
}

/**
 * The state of the Discord stand-in: users, guilds with channels, roles and members, threads,
 * DM channels, message history per channel, webhooks, reactions and bans, and the builders of
 * the API objects (users, members, messages) that REST answers and gateway dispatches carry.
 */

export type Obj = Record<string, unknown>;

let snowflake = 0n;
/** A fresh snowflake, increasing and carrying the current time like Discord's. */
export function sf(): string {
  const now = BigInt(Date.now() - 1_420_070_400_000) << 22n;
  snowflake = now > snowflake ? now : snowflake + 1n;
  return String(snowflake);
}

let pastSeq = 0n;
/**
 * A snowflake of time `ms` (in the past: a message of the channel's history). Its worker and
 * increment bits differ on each call, so two of the same millisecond are distinct and in order.
 */
export function sfAt(ms: number): string {
  pastSeq = (pastSeq + 1n) & 0x3fffffn;
  return String((BigInt(ms - 1_420_070_400_000) << 22n) | pastSeq);
}

import type { InteractionState } from "./interactions";

export interface UserSpec {
  id: string;
  username: string;
  global_name?: string | null;
  avatar?: string | null;
  bot?: boolean;
}

export interface MemberSpec {
  user: string;
  nick?: string | null;
  /** Per-guild avatar hash. */
  avatar?: string | null;
  roles?: string[];
}

export interface ChannelSpec {
  id: string;
  name: string;
  type?: number;
  topic?: string | null;
  parent_id?: string | null;
}

export interface GuildSpec {
  id: string;
  name: string;
  channels: ChannelSpec[];
  /** Roles; `permissions` (a bit set as a decimal string) adds to @everyone's. */
  roles?: Array<{ id: string; name: string; permissions?: string }>;
  members?: MemberSpec[];
  emojis?: Array<{ id: string; name: string; animated?: boolean }>;
}

export interface StoredMessage {
  data: Obj;
  /** Who may edit it: a user id, or `webhook:<id>`. */
  owner: string;
}

export interface Webhook {
  id: string;
  token: string;
  channel_id: string;
  guild_id: string;
  name: string;
}

/** A file of a message: a voice message's carries its waveform (base64 bytes) and length. */
export interface AttachmentSpec {
  name: string;
  data: Buffer;
  contentType: string;
  waveform?: string;
  durationSecs?: number;
  /** A video's first frame (JPEG), what the media proxy answers for `?format=jpeg`. */
  poster?: Buffer;
}

export interface FileBlob {
  data: Buffer;
  contentType: string;
  poster?: Buffer;
}

/** Everything the stand-in knows. Tests read it directly to assert outcomes. */
export class DiscordWorld {
  readonly users = new Map<string, UserSpec>();
  readonly guilds = new Map<string, GuildSpec>();
  /** Channel id → channel object (guild channels, threads, DMs). */
  readonly channels = new Map<string, Obj>();
  /** Channel id → messages in posting order. */
  readonly history = new Map<string, StoredMessage[]>();
  readonly webhooks = new Map<string, Webhook>();
  /** `<channel>/<message>` → emoji key → user ids. */
  readonly reactions = new Map<string, Map<string, Set<string>>>();
  /** `<guild>/<user>` of current bans. */
  readonly bans = new Set<string>();
  /** Served under `/cdn/...` and attachment URLs. */
  readonly files = new Map<string, FileBlob>();
  /** Audit log entries per guild (kicks), newest last. */
  readonly auditLog = new Map<string, Obj[]>();
  /** Channels where webhook creation answers 403 Missing Permissions. */
  readonly noWebhooks = new Set<string>();
  /**
   * Guilds where the bot has no moderation rights (Kick, Ban, Moderate Members): kicks, bans and
   * timeouts answer 403 Missing Permissions.
   */
  readonly noModeration = new Set<string>();
  /** `<guild>/<user>` → ISO time a member's timeout ends (communication_disabled_until). */
  readonly timeouts = new Map<string, string>();
  /** Button presses sent to the bot, by interaction id. */
  readonly interactions = new Map<string, InteractionState>();

  constructor(
    readonly bot: UserSpec,
    private readonly baseUrl: () => string,
  ) {
    this.users.set(bot.id, bot);
  }

  addUser(u: UserSpec): void {
    this.users.set(u.id, u);
  }

  addGuild(g: GuildSpec): void {
    this.guilds.set(g.id, g);
    for (const c of g.channels) this.channels.set(c.id, this.channelObject(g.id, c));
    // Each custom emoji's picture, on the CDN where Discord serves it (GIF when animated; the
    // CDN answers any image extension, so files are keyed without one).
    for (const e of g.emojis ?? [])
      this.putFile(`/cdn/emojis/${e.id}`, {
        data: emojiImage(e.id),
        contentType: e.animated ? "image/gif" : "image/png",
      });
  }

  channelObject(guildId: string | undefined, c: ChannelSpec): Obj {
    const o: Obj = {
      id: c.id,
      type: c.type ?? 0,
      name: c.name,
      topic: c.topic ?? null,
      position: 0,
      permission_overwrites: [],
      parent_id: c.parent_id ?? null,
      nsfw: false,
    };
    if (guildId) o.guild_id = guildId;
    if (o.type === 11 || o.type === 12) {
      o.thread_metadata = { archived: false, auto_archive_duration: 1440, locked: false };
      o.owner_id = this.bot.id;
      o.message_count = 0;
      o.member_count = 1;
    }
    return o;
  }

  guildOf(channelId: string): GuildSpec | undefined {
    const guildId = this.channels.get(channelId)?.guild_id;
    return typeof guildId === "string" ? this.guilds.get(guildId) : undefined;
  }

  userObject(id: string): Obj {
    const u = this.users.get(id);
    if (!u) throw new Error(`discord stand-in: unknown user ${id}`);
    return {
      id: u.id,
      username: u.username,
      discriminator: "0",
      global_name: u.global_name ?? null,
      avatar: u.avatar ?? null,
      bot: u.bot ?? false,
    };
  }

  memberObject(guildId: string, userId: string, withUser = true): Obj | undefined {
    const m = this.guilds.get(guildId)?.members?.find((x) => x.user === userId);
    if (!m) return undefined;
    const o: Obj = {
      nick: m.nick ?? null,
      avatar: m.avatar ?? null,
      roles: m.roles ?? [],
      joined_at: new Date(0).toISOString(),
      deaf: false,
      mute: false,
      flags: 0,
      communication_disabled_until: this.timeouts.get(`${guildId}/${userId}`) ?? null,
    };
    if (withUser) o.user = this.userObject(userId);
    return o;
  }

  /** A guild as GUILD_CREATE carries it. */
  guildCreate(g: GuildSpec): Obj {
    const channels = g.channels.filter((c) => c.type !== 11 && c.type !== 12);
    const threads = g.channels.filter((c) => c.type === 11 || c.type === 12);
    const everyone = {
      id: g.id,
      name: "@everyone",
      permissions: "1071698660929",
      position: 0,
      color: 0,
      hoist: false,
      managed: false,
      mentionable: false,
      flags: 0,
    };
    return {
      id: g.id,
      name: g.name,
      icon: null,
      owner_id: this.bot.id,
      unavailable: false,
      member_count: (g.members ?? []).length + 1,
      large: false,
      joined_at: new Date(0).toISOString(),
      channels: channels.map((c) => this.channelObject(undefined, c)),
      threads: threads.map((c) => this.channelObject(g.id, c)),
      roles: [everyone, ...(g.roles ?? []).map((r, i) => ({ ...everyone, ...r, position: i + 1 }))],
      members: (g.members ?? []).map((m) => this.memberObject(g.id, m.user)),
      emojis: (g.emojis ?? []).map((e) => ({
        ...e,
        animated: e.animated ?? false,
        available: true,
        roles: [],
        require_colons: true,
        managed: false,
      })),
      stickers: [],
      voice_states: [],
      presences: [],
      stage_instances: [],
      guild_scheduled_events: [],
      features: [],
    };
  }

  /**
   * Stores a message's file on the CDN and returns its attachment object, as Discord shows it:
   * a voice message's with its length and base64 waveform. The one place attachments are built
   * (users' messages, live and past, and the bridge's uploads).
   */
  attachment(channelId: string, f: AttachmentSpec): Obj {
    const id = sf();
    const url = this.putFile(`/attachments/${channelId}/${id}/${encodeURIComponent(f.name)}`, {
      data: f.data,
      contentType: f.contentType,
      ...(f.poster ? { poster: f.poster } : {}),
    });
    return {
      id,
      filename: f.name,
      size: f.data.length,
      url,
      proxy_url: url,
      content_type: f.contentType,
      ...(f.waveform !== undefined ? { waveform: f.waveform, duration_secs: f.durationSecs ?? 1 } : {}),
    };
  }

  /** Stores a file and returns its public URL. */
  putFile(pathname: string, blob: FileBlob): string {
    this.files.set(pathname, blob);
    return `${this.baseUrl()}${pathname}`;
  }

  /**
   * Builds and stores a message in `channelId`; `at` (milliseconds) posts it in the past, with a
   * snowflake of that time as Discord's ids carry it.
   */
  addMessage(channelId: string, owner: string, fields: Obj, at?: number): Obj {
    const channel = this.channels.get(channelId);
    if (!channel) throw new Error(`discord stand-in: unknown channel ${channelId}`);
    const data: Obj = {
      id: at === undefined ? sf() : sfAt(at),
      channel_id: channelId,
      type: 0,
      content: "",
      timestamp: new Date(at ?? Date.now()).toISOString(),
      edited_timestamp: null,
      tts: false,
      mention_everyone: false,
      mentions: [],
      mention_roles: [],
      attachments: [],
      embeds: [],
      pinned: false,
      ...fields,
    };
    if (typeof channel.guild_id === "string") data.guild_id = channel.guild_id;
    const list = this.history.get(channelId) ?? [];
    list.push({ data, owner });
    this.history.set(channelId, list);
    return data;
  }

  findMessage(channelId: string, messageId: string): StoredMessage | undefined {
    return this.history.get(channelId)?.find((m) => m.data.id === messageId);
  }

  removeMessage(channelId: string, messageId: string): boolean {
    const list = this.history.get(channelId) ?? [];
    const i = list.findIndex((m) => m.data.id === messageId);
    if (i < 0) return false;
    list.splice(i, 1);
    return true;
  }

  /** Messages of a channel newer than `after` (Discord returns newest first). */
  messagesAfter(channelId: string, after: string | undefined, limit: number): Obj[] {
    return this.messagesPage(channelId, after === undefined ? { limit } : { after, limit });
  }

  /**
   * A page of a channel's history as GET /channels/{id}/messages answers it, newest first: the
   * newest `limit`, or those just before `before`, just after `after`, or around `around`.
   */
  messagesPage(
    channelId: string,
    q: { before?: string; after?: string; around?: string; limit: number },
  ): Obj[] {
    const id = (m: Obj) => BigInt(m.id as string);
    const list = (this.history.get(channelId) ?? [])
      .map((m) => m.data)
      .sort((a, b) => (id(a) < id(b) ? -1 : id(a) > id(b) ? 1 : 0));
    let page: Obj[];
    if (q.after !== undefined) page = list.filter((m) => id(m) > BigInt(q.after!)).slice(0, q.limit);
    else if (q.before !== undefined) page = list.filter((m) => id(m) < BigInt(q.before!)).slice(-q.limit);
    else if (q.around !== undefined) {
      const i = list.findIndex((m) => id(m) >= BigInt(q.around!));
      const mid = i < 0 ? list.length : i;
      const from = Math.max(0, mid - Math.floor(q.limit / 2));
      page = list.slice(from, from + q.limit);
    } else page = list.slice(-q.limit);
    return page.reverse();
  }

  reactionSet(channelId: string, messageId: string, key: string): Set<string> {
    const k = `${channelId}/${messageId}`;
    let byKey = this.reactions.get(k);
    if (!byKey) {
      byKey = new Map();
      this.reactions.set(k, byKey);
    }
    let users = byKey.get(key);
    if (!users) {
      users = new Set();
      byKey.set(key, users);
    }
    return users;
  }
}

/** The stand-in's picture of a custom emoji: a 1×1 PNG whose last byte names the emoji (tests compare bytes). */
export function emojiImage(id: string): Buffer {
  const png = Buffer.from(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==",
    "base64",
  );
  return Buffer.concat([png, Buffer.from(`emoji:${id}`)]);
}

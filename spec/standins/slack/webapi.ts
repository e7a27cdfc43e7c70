/**
 * The Slack Web API methods the stand-in answers, over one {@link Workspace}. Each returns the
 * fields of a successful answer (`ok: true` is added by the server) or throws {@link ApiError}.
 * Side effects that Slack reports back as events (the bot's own posts, edits, deletes and
 * reactions) are handed to `echo`, so the bridge sees its own actions the way it does on Slack.
 */
import type { Obj, StoredMessage, Workspace } from "./Workspace";

/** An `{ ok: false, error }` answer. */
export class ApiError extends Error {
  constructor(readonly error: string) {
    super(error);
  }
}

export type Params = Record<string, unknown>;

export interface MethodContext {
  ws: Workspace;
  /** `http://127.0.0.1:<port>` of the stand-in. */
  baseUrl: string;
  /** A Slack event caused by the call, delivered to the app like any other. */
  echo(event: Obj): void;
  /** The Socket Mode URL for `apps.connections.open`. */
  socketUrl(): string;
}

const str = (p: Params, k: string, required = true): string => {
  const v = p[k];
  if (typeof v === "string" && v !== "") return v;
  if (typeof v === "number") return String(v);
  if (required)
    throw new ApiError(k === "channel" || k === "channel_id" ? "channel_not_found" : "invalid_arguments");
  return "";
};

const json = <T>(v: unknown): T => (typeof v === "string" ? (JSON.parse(v) as T) : (v as T));

/** `include_all_metadata`: the reader wants message metadata. */
const meta = (p: Params): boolean => p.include_all_metadata === true || p.include_all_metadata === "true";

/** chat.postMessage's `metadata` (a JSON string in a form body): kept when well formed. */
function metadataOf(p: Params): Obj | undefined {
  let m = p.metadata;
  if (m === undefined || m === "") return undefined;
  if (typeof m === "string") {
    try {
      m = JSON.parse(m);
    } catch {
      throw new ApiError("invalid_metadata_format");
    }
  }
  const o = m as Obj;
  if (typeof o?.event_type !== "string" || typeof o.event_payload !== "object" || o.event_payload === null)
    throw new ApiError("invalid_metadata_schema");
  return { event_type: o.event_type, event_payload: o.event_payload };
}

function channelOf(ctx: MethodContext, p: Params, key = "channel"): string {
  const id = str(p, key);
  if (!ctx.ws.channels.has(id)) throw new ApiError("channel_not_found");
  return id;
}

function messageOf(ctx: MethodContext, channel: string, ts: string): StoredMessage {
  const m = ctx.ws.message(channel, ts);
  if (!m || m.deleted) throw new ApiError("message_not_found");
  return m;
}

function wire(m: StoredMessage, withMetadata = false): Obj {
  const o: Obj = { type: "message", ts: m.ts, text: m.text };
  // Slack returns message metadata only to readers that ask (include_all_metadata).
  if (withMetadata && m.metadata) o.metadata = m.metadata;
  if (m.user) o.user = m.user;
  if (m.bot_id) o.bot_id = m.bot_id;
  if (m.username) o.username = m.username;
  if (m.thread_ts) o.thread_ts = m.thread_ts;
  if (m.broadcast) o.subtype = "thread_broadcast";
  if (m.files) o.files = m.files;
  return o;
}

/** One page of `all` by Slack's `limit` and `cursor` (an offset here; opaque to the app). */
function paged(p: Params, all: StoredMessage[], shape: (m: StoredMessage) => Obj): Obj {
  const limit = Math.min(Math.max(Number(str(p, "limit", false) || "100") || 100, 1), 999);
  const start = Number(str(p, "cursor", false) || "0");
  if (!Number.isInteger(start) || start < 0) throw new ApiError("invalid_cursor");
  const page = all.slice(start, start + limit);
  const more = start + limit < all.length;
  return {
    messages: page.map(shape),
    has_more: more,
    response_metadata: { next_cursor: more ? String(start + limit) : "" },
  };
}

/** Messages in ts order (seconds, then microseconds, compared exactly), oldest first. */
function byTs(list: StoredMessage[]): StoredMessage[] {
  const key = (ts: string) => {
    const [sec = "", micro = ""] = ts.split(".");
    return `${sec.padStart(12, "0")}.${micro.padEnd(6, "0")}`;
  };
  return [...list].sort((a, b) => (key(a.ts) < key(b.ts) ? -1 : key(a.ts) > key(b.ts) ? 1 : 0));
}

/** A thread parent's summary, as Slack adds it to the parent message. */
function threadOf(ctx: MethodContext, m: StoredMessage): Obj {
  const replies = byTs(
    ctx.ws.messages.filter(
      (r) => r.channel === m.channel && !r.deleted && r.thread_ts === m.ts && r.ts !== m.ts,
    ),
  );
  if (!replies.length) return {};
  return {
    thread_ts: m.ts,
    reply_count: replies.length,
    reply_users: [...new Set(replies.map((r) => r.user).filter(Boolean))],
    latest_reply: replies[replies.length - 1]!.ts,
  };
}

/** The methods, by name. `auth` is `bot` for the bot token, `app` for the app-level token. */
export const METHODS: Record<string, { auth: "bot" | "app"; run(ctx: MethodContext, p: Params): Obj }> = {
  "auth.test": {
    auth: "bot",
    run: ({ ws }) => ({
      url: `https://${ws.team.toLowerCase()}.slack.test/`,
      team: ws.name,
      user: "bridge",
      team_id: ws.team,
      user_id: ws.botUserId,
      bot_id: ws.botId,
      is_enterprise_install: false,
    }),
  },
  "apps.connections.open": { auth: "app", run: (ctx) => ({ url: ctx.socketUrl() }) },
  "conversations.info": {
    auth: "bot",
    run: (ctx, p) => ({ channel: ctx.ws.channelObject(channelOf(ctx, p)) }),
  },
  "emoji.list": {
    auth: "bot",
    run: (ctx) => {
      if (!ctx.ws.scopes.includes("emoji:read")) throw new ApiError("missing_scope");
      const emoji: Record<string, string> = {};
      for (const [name, v] of ctx.ws.emoji)
        emoji[name] = typeof v === "string" ? v : `${ctx.baseUrl}/emoji/${ctx.ws.team}/${name}.png`;
      return { emoji, cache_ts: String(Math.floor(Date.now() / 1000)) };
    },
  },
  "conversations.open": {
    auth: "bot",
    run: (ctx, p) => {
      // One user (a group DM of several is another kind of chat): its IM with the bot, found or opened.
      const users = str(p, "users", false);
      if (!users)
        throw new ApiError(
          str(p, "channel", false) ? "method_not_supported_for_channel_type" : "users_list_not_supplied",
        );
      const ids = users.split(",").map((u) => u.trim());
      if (ids.length !== 1) throw new ApiError("not_enough_users");
      const user = ids[0]!;
      const spec = ctx.ws.users.get(user);
      if (!spec) throw new ApiError("user_not_found");
      if (user === ctx.ws.botUserId) throw new ApiError("cannot_dm_bot");
      const open = [...ctx.ws.channels.values()].find((c) => c.kind === "im" && c.user === user);
      if (open) return { no_op: true, already_open: true, channel: { id: open.id } };
      const id = `D${ctx.ws.team.slice(1)}${String(ctx.ws.channels.size + 1).padStart(4, "0")}`;
      ctx.ws.addChannel({ id, kind: "im", user, members: [ctx.ws.botUserId, user] });
      return { channel: { id } };
    },
  },
  "conversations.members": {
    auth: "bot",
    run: (ctx, p) => ({
      members: [...(ctx.ws.channels.get(channelOf(ctx, p))?.members ?? [])],
      response_metadata: { next_cursor: "" },
    }),
  },
  "conversations.history": {
    auth: "bot",
    run: (ctx, p) => {
      const channel = channelOf(ctx, p);
      const oldest = Number(str(p, "oldest", false) || "0");
      // Like Slack: newest first, thread replies left out (unless also sent to the channel),
      // each thread's parent telling its reply_count and latest_reply.
      const msgs = byTs(
        ctx.ws.messages.filter(
          (m) =>
            m.channel === channel &&
            !m.deleted &&
            Number(m.ts) > oldest &&
            (!m.thread_ts || m.thread_ts === m.ts || m.broadcast),
        ),
      ).reverse();
      return paged(p, msgs, (m) => ({ ...wire(m, meta(p)), ...threadOf(ctx, m) }));
    },
  },
  "conversations.replies": {
    auth: "bot",
    run: (ctx, p) => {
      const channel = channelOf(ctx, p);
      const root = str(p, "ts");
      const oldest = Number(str(p, "oldest", false) || "0");
      // Like Slack: the parent first, then its replies oldest first, paged by cursor.
      const msgs = byTs(
        ctx.ws.messages.filter(
          (m) =>
            m.channel === channel &&
            !m.deleted &&
            (m.ts === root || m.thread_ts === root) &&
            (m.ts === root || Number(m.ts) > oldest),
        ),
      );
      return paged(p, msgs, (m) => ({ ...wire(m, meta(p)), ...threadOf(ctx, m) }));
    },
  },
  "users.info": {
    auth: "bot",
    run: (ctx, p) => {
      const user = ctx.ws.userObject(str(p, "user"), ctx.baseUrl);
      if (!user) throw new ApiError("user_not_found");
      return { user };
    },
  },
  "chat.postMessage": {
    auth: "bot",
    run: (ctx, p) => {
      const channel = channelOf(ctx, p);
      const text = str(p, "text", false);
      if (text === "" && !p.blocks) throw new ApiError("no_text");
      const customize = ctx.ws.scopes.includes("chat:write.customize");
      const m = ctx.ws.store({
        channel,
        ts: ctx.ws.nextTs(),
        text,
        user: ctx.ws.botUserId,
        bot_id: ctx.ws.botId,
        // Without chat:write.customize, Slack shows the app's own name and icon.
        username: customize ? str(p, "username", false) || undefined : undefined,
        icon_url: customize ? str(p, "icon_url", false) || undefined : undefined,
        thread_ts: str(p, "thread_ts", false) || undefined,
        metadata: metadataOf(p),
      });
      const broadcast = p.reply_broadcast === true || p.reply_broadcast === "true";
      if (broadcast && m.thread_ts) m.broadcast = true;
      ctx.echo({
        ...wire(m),
        ...(broadcast && m.thread_ts ? { subtype: "thread_broadcast" } : {}),
        channel,
        channel_type: ctx.ws.channelType(channel),
      });
      return { channel, ts: m.ts, message: wire(m) };
    },
  },
  "chat.update": {
    auth: "bot",
    run: (ctx, p) => {
      const channel = channelOf(ctx, p);
      const m = messageOf(ctx, channel, str(p, "ts"));
      if (m.user !== ctx.ws.botUserId) throw new ApiError("cant_update_message");
      const previous = wire(m);
      m.text = str(p, "text", false);
      ctx.echo({
        type: "message",
        subtype: "message_changed",
        hidden: true,
        channel,
        channel_type: ctx.ws.channelType(channel),
        ts: ctx.ws.nextTs(),
        message: { ...wire(m), edited: { user: ctx.ws.botUserId, ts: ctx.ws.nextTs() } },
        previous_message: previous,
      });
      return { channel, ts: m.ts, text: m.text };
    },
  },
  "chat.delete": {
    auth: "bot",
    run: (ctx, p) => {
      const channel = channelOf(ctx, p);
      const m = messageOf(ctx, channel, str(p, "ts"));
      // A bot token deletes only the bot's own messages (other people's need a user token).
      if (m.user !== ctx.ws.botUserId) throw new ApiError("cant_delete_message");
      m.deleted = true;
      ctx.echo({
        type: "message",
        subtype: "message_deleted",
        hidden: true,
        channel,
        channel_type: ctx.ws.channelType(channel),
        ts: ctx.ws.nextTs(),
        deleted_ts: m.ts,
        previous_message: wire(m),
      });
      return { channel, ts: m.ts };
    },
  },
  "reactions.add": {
    auth: "bot",
    run: (ctx, p) => {
      const channel = channelOf(ctx, p);
      const m = messageOf(ctx, channel, str(p, "timestamp"));
      const name = str(p, "name");
      const who = m.reactions.get(name) ?? new Set<string>();
      if (who.has(ctx.ws.botUserId)) throw new ApiError("already_reacted");
      who.add(ctx.ws.botUserId);
      m.reactions.set(name, who);
      ctx.echo({
        type: "reaction_added",
        user: ctx.ws.botUserId,
        reaction: name,
        item: { type: "message", channel, ts: m.ts },
        item_user: m.user,
        event_ts: ctx.ws.nextTs(),
      });
      return {};
    },
  },
  "reactions.remove": {
    auth: "bot",
    run: (ctx, p) => {
      const channel = channelOf(ctx, p);
      const m = messageOf(ctx, channel, str(p, "timestamp"));
      const name = str(p, "name");
      if (!m.reactions.get(name)?.delete(ctx.ws.botUserId)) throw new ApiError("no_reaction");
      ctx.echo({
        type: "reaction_removed",
        user: ctx.ws.botUserId,
        reaction: name,
        item: { type: "message", channel, ts: m.ts },
        item_user: m.user,
        event_ts: ctx.ws.nextTs(),
      });
      return {};
    },
  },
  "conversations.rename": {
    auth: "bot",
    run: (ctx, p) => {
      const channel = channelOf(ctx, p);
      const c = ctx.ws.channels.get(channel)!;
      if (c.kind === "im" || c.kind === "mpim") throw new ApiError("method_not_supported_for_channel_type");
      if (!ctx.ws.scopes.includes("channels:manage")) throw new ApiError("missing_scope");
      // Slack channel names are lowercase, without spaces.
      c.name = str(p, "name").toLowerCase().replace(/\s+/g, "-").slice(0, 80);
      return { channel: ctx.ws.channelObject(channel) };
    },
  },
  "conversations.setTopic": {
    auth: "bot",
    run: (ctx, p) => {
      const channel = channelOf(ctx, p);
      const c = ctx.ws.channels.get(channel)!;
      c.topic = str(p, "topic", false);
      return { channel: ctx.ws.channelObject(channel) };
    },
  },
  "files.getUploadURLExternal": {
    auth: "bot",
    run: (ctx, p) => {
      const name = str(p, "filename");
      const length = Number(str(p, "length"));
      if (!Number.isFinite(length) || length <= 0) throw new ApiError("invalid_arguments");
      const id = ctx.ws.nextFileId();
      ctx.ws.files.set(id, {
        id,
        name,
        mimetype: "application/octet-stream",
        data: Buffer.alloc(0),
        shares: new Map(),
      });
      return { upload_url: `${ctx.baseUrl}/upload/${ctx.ws.team}/${id}`, file_id: id };
    },
  },
  "files.completeUploadExternal": {
    auth: "bot",
    run: (ctx, p) => {
      const list = json<Array<{ id: string; title?: string }>>(p.files);
      if (!Array.isArray(list) || !list.length) throw new ApiError("invalid_arguments");
      const channel = str(p, "channel_id", false);
      const files = list.map((f) => {
        const file = ctx.ws.files.get(f.id);
        if (!file?.data.length) throw new ApiError("file_not_found");
        file.title = f.title;
        return file;
      });
      if (channel) {
        if (!ctx.ws.channels.has(channel)) throw new ApiError("channel_not_found");
        const ts = ctx.ws.nextTs();
        const shared = files.map((f) => fileObject(ctx, f));
        const m = ctx.ws.store({
          channel,
          ts,
          text: str(p, "initial_comment", false),
          user: ctx.ws.botUserId,
          bot_id: ctx.ws.botId,
          thread_ts: str(p, "thread_ts", false) || undefined,
          files: shared,
        });
        for (const f of files) f.shares.set(channel, ts);
        ctx.echo({ ...wire(m), subtype: "file_share", channel, channel_type: ctx.ws.channelType(channel) });
      }
      // As on Slack, the answer does not wait for the share: `shares` comes from files.info.
      return { files: files.map((f) => ({ id: f.id, title: f.title ?? f.name })) };
    },
  },
  "files.info": {
    auth: "bot",
    run: (ctx, p) => {
      const f = ctx.ws.files.get(str(p, "file"));
      if (!f) throw new ApiError("file_not_found");
      const o = fileObject(ctx, f);
      const isPrivate = (c: string) => ctx.ws.channels.get(c)?.kind !== "channel";
      const share = (priv: boolean) =>
        Object.fromEntries(
          [...f.shares]
            .filter(([c]) => isPrivate(c) === priv)
            .map(([c, ts]) => [c, [{ ts, channel_name: c, team_id: ctx.ws.team }]]),
        );
      o.shares = { public: share(false), private: share(true) };
      return { file: o };
    },
  },
};

/** The `files` entry Slack puts on a message, with `url_private` served by the stand-in. */
export function fileObject(
  ctx: { ws: Workspace; baseUrl: string },
  f: {
    id: string;
    name: string;
    title?: string;
    mimetype: string;
    data: Buffer;
    thumbVideo?: { data: Buffer; w: number; h: number };
  },
): Obj {
  const url = `${ctx.baseUrl}/files-pri/${ctx.ws.team}-${f.id}/${encodeURIComponent(f.name)}`;
  // A video's thumbnail, as Slack lists it (behind the token, like the file).
  const thumb = f.thumbVideo && {
    thumb_video: `${ctx.baseUrl}/files-tmb/${ctx.ws.team}-${f.id}/thumb_video.jpg`,
    thumb_video_w: f.thumbVideo.w,
    thumb_video_h: f.thumbVideo.h,
  };
  return {
    ...thumb,
    id: f.id,
    name: f.name,
    title: f.title ?? f.name,
    mimetype: f.mimetype,
    filetype: f.name.split(".").pop() ?? "",
    size: f.data.length,
    url_private: url,
    url_private_download: `${url}?download=1`,
  };
}

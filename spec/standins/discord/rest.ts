/**
 * The REST routes of the Discord stand-in (`/api/v10/...`), the ones discord.js calls for the
 * connector: gateway discovery, users, messages (create, edit, delete, fetch, history with
 * `before`/`after`/`around`, strictly), webhooks (create, list, execute with files, edit, delete), reactions, typing,
 * members, kicks and bans. Every mutation that Discord announces on the gateway is dispatched.
 */
import { type AttachmentSpec, type DiscordWorld, type Obj, sf } from "./DiscordWorld";
import { ADMINISTRATOR, checkComponents, interactionCallback, memberPermissions } from "./interactions";
import { pollField } from "./polls";

/** A parsed request body: JSON fields, plus the files of a multipart upload. */
export interface Body {
  json: Obj;
  files: Array<{ field: string; name: string; data: Buffer; contentType: string }>;
}

export interface RouteContext {
  world: DiscordWorld;
  gatewayUrl(): string;
  dispatch(t: string, d: Obj): void;
}

export type Answer = [status: number, body?: unknown];
type Handler = (m: string[], body: Body, query: URLSearchParams) => Answer;

/** Message flag of a voice message. */
const IS_VOICE_MESSAGE = 1 << 13;

const unknown = (what: string, code: number): Answer => [404, { message: `Unknown ${what}`, code }];
const missingPermissions: Answer = [403, { message: "Missing Permissions", code: 50013 }];

/** Reads a JSON or multipart/form-data body (payload_json + files[n]). */
export async function parseBody(raw: Buffer, contentType: string): Promise<Body> {
  if (raw.length === 0) return { json: {}, files: [] };
  if (contentType.includes("application/json")) return { json: JSON.parse(raw.toString()) as Obj, files: [] };
  if (contentType.includes("multipart/form-data")) {
    const form = await new Response(new Uint8Array(raw), {
      headers: { "content-type": contentType },
    }).formData();
    const body: Body = { json: {}, files: [] };
    for (const [field, value] of form.entries()) {
      if (typeof value === "string") {
        if (field === "payload_json") body.json = JSON.parse(value) as Obj;
        else body.json[field] = value;
      } else {
        body.files.push({
          field,
          name: value.name,
          data: Buffer.from(await value.arrayBuffer()),
          contentType: value.type || "application/octet-stream",
        });
      }
    }
    return body;
  }
  return { json: {}, files: [] };
}

/** The route table: method, path pattern below `/api/v10`, handler. */
export function restRoutes(ctx: RouteContext): Array<[string, RegExp, Handler]> {
  const { world } = ctx;
  /** The uploaded files, with what `attachments` in the payload says of each (`files[n]` is id n). */
  const uploads = (body: Body): AttachmentSpec[] => {
    const meta = Array.isArray(body.json.attachments) ? (body.json.attachments as Obj[]) : [];
    return body.files.map((f) => {
      const n = /^files\[(\d+)\]$/.exec(f.field)?.[1];
      const m = meta.find((a) => n !== undefined && String(a.id) === n) ?? {};
      return {
        name: f.name,
        data: f.data,
        contentType: f.contentType,
        ...(typeof m.waveform === "string" ? { waveform: m.waveform } : {}),
        ...(typeof m.duration_secs === "number" ? { durationSecs: m.duration_secs } : {}),
      };
    });
  };
  /**
   * IS_VOICE_MESSAGE (1 << 13), as Discord checks it: no content, exactly one audio attachment,
   * with its waveform and duration.
   */
  const voiceRefusal = (body: Body, files: AttachmentSpec[]): Answer | undefined => {
    const flags = Number(body.json.flags ?? 0);
    if (!(flags & IS_VOICE_MESSAGE)) return undefined;
    const content = typeof body.json.content === "string" ? body.json.content : "";
    if (content !== "" || (Array.isArray(body.json.embeds) && body.json.embeds.length > 0))
      return [400, { message: "Voice messages do not support additional content", code: 50159 }];
    // discord.js names an uploaded buffer's type by its bytes: Ogg is `application/ogg` there.
    const audio = (t: string) => t.startsWith("audio/") || t.startsWith("application/ogg");
    if (files.length !== 1 || !audio(files[0]!.contentType))
      return [400, { message: "Voice messages must have a single audio attachment", code: 50160 }];
    const [f] = files;
    if (f!.waveform === undefined || f!.durationSecs === undefined)
      return [400, { message: "Voice messages must have supporting metadata", code: 50161 }];
    return undefined;
  };
  /**
   * `nonce` with `enforce_nonce: true`: the same author's message with that nonce in the last few
   * minutes is answered again and nothing new is created, as Discord does. Without
   * `enforce_nonce` the nonce is only echoed back. (Webhook execution has no nonce.)
   */
  const nonces = new Map<string, { id: string; at: number }>();
  const NONCE_TTL_MS = 5 * 60_000;
  const create = (channelId: string, owner: string, author: Obj, body: Body, extra: Obj = {}): Answer => {
    if (!world.channels.has(channelId)) return unknown("Channel", 10003);
    const nonce = body.json.nonce;
    if (nonce !== undefined && (typeof nonce === "string" ? nonce.length > 25 : !Number.isInteger(nonce)))
      return [400, { message: "Invalid Form Body", code: 50035, errors: { nonce: "NONCE_TYPE_INVALID" } }];
    const nonceKey =
      body.json.enforce_nonce === true && nonce !== undefined ? `${channelId}/${owner}/${nonce}` : "";
    const earlier = nonceKey ? nonces.get(nonceKey) : undefined;
    if (earlier && Date.now() - earlier.at < NONCE_TTL_MS) {
      const stored = world.findMessage(channelId, earlier.id);
      if (stored) return [200, stored.data];
    }
    const content = typeof body.json.content === "string" ? body.json.content : "";
    if (content.length > 2000)
      return [
        400,
        { message: "Invalid Form Body", code: 50035, errors: { content: "BASE_TYPE_MAX_LENGTH" } },
      ];
    const checked = checkComponents(body.json.components);
    if ("error" in checked) return checked.error;
    const poll = body.json.poll === undefined ? undefined : pollField(body.json.poll);
    if (poll && "error" in poll) return poll.error;
    const files = uploads(body);
    const refused = voiceRefusal(body, files);
    if (refused) return refused;
    const flags = Number(body.json.flags ?? 0) & IS_VOICE_MESSAGE;
    const attachments = files.map((f) => world.attachment(channelId, f));
    const fields: Obj = { author, content, attachments, ...(flags ? { flags } : {}), ...extra };
    if (poll) fields.poll = poll.poll;
    if (checked.components) fields.components = checked.components;
    const ref = body.json.message_reference as Obj | undefined;
    if (ref?.message_id) {
      fields.type = 19;
      fields.message_reference = { message_id: ref.message_id, channel_id: channelId };
    }
    if (Array.isArray(body.json.embeds)) fields.embeds = body.json.embeds;
    const guild = world.guildOf(channelId);
    if (nonce !== undefined) fields.nonce = nonce;
    const msg = world.addMessage(channelId, owner, fields);
    if (nonceKey) nonces.set(nonceKey, { id: String(msg.id), at: Date.now() });
    const member = guild && owner === world.bot.id ? world.memberObject(guild.id, owner, false) : undefined;
    ctx.dispatch("MESSAGE_CREATE", member ? { ...msg, member } : msg);
    return [200, msg];
  };
  const edit = (channelId: string, messageId: string, owner: string, body: Body): Answer => {
    const stored = world.findMessage(channelId, messageId);
    if (!stored) return unknown("Message", 10008);
    if (stored.owner !== owner)
      return [403, { message: "Cannot edit a message authored by another user", code: 50005 }];
    const checked = checkComponents(body.json.components);
    if ("error" in checked) return checked.error;
    if (typeof body.json.content === "string") stored.data.content = body.json.content;
    if (body.json.components !== undefined) stored.data.components = checked.components ?? [];
    stored.data.edited_timestamp = new Date().toISOString();
    ctx.dispatch("MESSAGE_UPDATE", stored.data);
    return [200, stored.data];
  };
  const remove = (channelId: string, messageId: string): Answer => {
    if (!world.removeMessage(channelId, messageId)) return unknown("Message", 10008);
    const guildId = world.channels.get(channelId)?.guild_id;
    ctx.dispatch("MESSAGE_DELETE", {
      id: messageId,
      channel_id: channelId,
      ...(guildId ? { guild_id: guildId } : {}),
    });
    return [204];
  };
  const webhook = (id: string, token: string) => {
    const w = world.webhooks.get(id);
    return w && w.token === token ? w : undefined;
  };
  const target = (w: { channel_id: string }, query: URLSearchParams) =>
    query.get("thread_id") ?? w.channel_id;
  const reactionKey = (emoji: string) => decodeURIComponent(emoji);
  const emojiObject = (key: string): Obj => {
    const custom = /^(.+):(\d+)$/.exec(key);
    return custom ? { id: custom[2], name: custom[1], animated: false } : { id: null, name: key };
  };
  /**
   * Discord's checks before the bot acts on a member: the right (absent in `noModeration`
   * guilds), and a target below the bot (the owner and administrators are not).
   */
  const mayModerate = (guildId: string, userId?: string): Answer | undefined => {
    if (!world.guilds.has(guildId)) return unknown("Guild", 10004);
    if (world.noModeration.has(guildId)) return missingPermissions;
    if (userId && memberPermissions(world, guildId, userId) & ADMINISTRATOR) return missingPermissions;
    return undefined;
  };
  const guildMember = (guildId: string, userId: string): Answer => {
    const m = world.memberObject(guildId, userId);
    return m ? [200, m] : unknown("Member", 10007);
  };

  return [
    [
      "GET",
      /^\/gateway\/bot$/,
      () => [
        200,
        {
          url: ctx.gatewayUrl(),
          shards: 1,
          session_start_limit: { total: 1000, remaining: 1000, reset_after: 0, max_concurrency: 1 },
        },
      ],
    ],
    ["GET", /^\/users\/@me$/, () => [200, world.userObject(world.bot.id)]],
    [
      // Create DM: the bot's DM channel with the recipient, the existing one when there is one.
      "POST",
      /^\/users\/@me\/channels$/,
      (_m, body) => {
        const to = body.json.recipient_id;
        if (typeof to !== "string" || !/^\d{1,20}$/.test(to))
          return [
            400,
            { message: "Invalid Form Body", code: 50035, errors: { recipient_id: "NUMBER_TYPE_COERCE" } },
          ];
        if (!world.users.has(to)) return unknown("User", 10013);
        for (const c of world.channels.values())
          if (c.type === 1 && (c.recipients as Obj[] | undefined)?.[0]?.id === to) return [200, c];
        const dm = { id: sf(), type: 1, recipients: [world.userObject(to)], last_message_id: null };
        world.channels.set(dm.id, dm);
        return [200, dm];
      },
    ],
    [
      "GET",
      /^\/users\/(\d+)$/,
      (m) => (world.users.has(m[1]) ? [200, world.userObject(m[1])] : unknown("User", 10013)),
    ],
    [
      "GET",
      /^\/channels\/(\d+)$/,
      (m) => (world.channels.has(m[1]) ? [200, world.channels.get(m[1])] : unknown("Channel", 10003)),
    ],
    [
      "PATCH",
      /^\/channels\/(\d+)$/,
      (m, body) => {
        const c = world.channels.get(m[1]);
        if (!c) return unknown("Channel", 10003);
        for (const k of ["name", "topic"]) if (typeof body.json[k] === "string") c[k] = body.json[k];
        ctx.dispatch("CHANNEL_UPDATE", c);
        return [200, c];
      },
    ],
    [
      "GET",
      /^\/channels\/(\d+)\/messages$/,
      (m, _b, q) => {
        if (!world.channels.has(m[1])) return unknown("Channel", 10003);
        // As Discord: limit 1..100 (default 50), at most one of before, after and around, each a
        // snowflake; the page is newest first.
        const invalid = (field: string, code: string): Answer => [
          400,
          { message: "Invalid Form Body", code: 50035, errors: { [field]: code } },
        ];
        const rawLimit = q.get("limit");
        const limit = rawLimit === null ? 50 : Number(rawLimit);
        if (!/^\d+$/.test(rawLimit ?? "50")) return invalid("limit", "NUMBER_TYPE_COERCE");
        if (limit < 1 || limit > 100) return invalid("limit", "NUMBER_TYPE_MIN_MAX");
        const cursors = (["before", "after", "around"] as const).filter((k) => q.has(k));
        if (cursors.length > 1) return invalid(cursors[1], "BASE_TYPE_BAD_COMBINATION");
        const which = cursors[0];
        const at = which ? q.get(which)! : undefined;
        if (at !== undefined && !/^\d{1,20}$/.test(at)) return invalid(which!, "NUMBER_TYPE_COERCE");
        return [200, world.messagesPage(m[1], { [which ?? "latest"]: at, limit })];
      },
    ],
    [
      "GET",
      /^\/channels\/(\d+)\/messages\/(\d+)$/,
      (m) => {
        const s = world.findMessage(m[1], m[2]);
        return s ? [200, s.data] : unknown("Message", 10008);
      },
    ],
    [
      "POST",
      /^\/channels\/(\d+)\/messages$/,
      (m, body) => create(m[1], world.bot.id, world.userObject(world.bot.id), body),
    ],
    ["PATCH", /^\/channels\/(\d+)\/messages\/(\d+)$/, (m, body) => edit(m[1], m[2], world.bot.id, body)],
    ["DELETE", /^\/channels\/(\d+)\/messages\/(\d+)$/, (m) => remove(m[1], m[2])],
    ["POST", /^\/channels\/(\d+)\/typing$/, () => [204]],
    [
      "POST",
      /^\/interactions\/(\d+)\/([^/]+)\/callback$/,
      (m, body, q) =>
        interactionCallback(
          world,
          world.interactions.get(m[1]!),
          m[2]!,
          body.json,
          q.get("with_response") === "true",
          ctx.dispatch,
        ),
    ],
    [
      "POST",
      /^\/channels\/(\d+)\/messages\/(\d+)\/threads$/,
      (m, body) => {
        const parent = world.channels.get(m[1]);
        if (!parent?.guild_id || !world.findMessage(m[1], m[2])) return unknown("Message", 10008);
        if (world.channels.has(m[2]))
          return [400, { message: "A thread has already been created for this message", code: 160004 }];
        const spec = { id: m[2], name: String(body.json.name ?? "thread"), type: 11, parent_id: m[1] };
        world.guildOf(m[1])?.channels.push(spec);
        const thread = world.channelObject(String(parent.guild_id), spec);
        world.channels.set(m[2], thread);
        ctx.dispatch("THREAD_CREATE", { ...thread, newly_created: true });
        return [201, thread];
      },
    ],
    [
      "PUT",
      /^\/channels\/(\d+)\/messages\/(\d+)\/reactions\/([^/]+)\/@me$/,
      (m) => {
        if (!world.findMessage(m[1], m[2])) return unknown("Message", 10008);
        const key = reactionKey(m[3]);
        world.reactionSet(m[1], m[2], key).add(world.bot.id);
        const guildId = world.channels.get(m[1])?.guild_id;
        ctx.dispatch("MESSAGE_REACTION_ADD", {
          user_id: world.bot.id,
          channel_id: m[1],
          message_id: m[2],
          emoji: emojiObject(key),
          ...(guildId ? { guild_id: guildId } : {}),
        });
        return [204];
      },
    ],
    [
      "DELETE",
      /^\/channels\/(\d+)\/messages\/(\d+)\/reactions\/([^/]+)\/@me$/,
      (m) => {
        world.reactionSet(m[1], m[2], reactionKey(m[3])).delete(world.bot.id);
        return [204];
      },
    ],
    [
      "GET",
      /^\/channels\/(\d+)\/webhooks$/,
      (m) => {
        if (world.noWebhooks.has(m[1])) return missingPermissions;
        return [
          200,
          [...world.webhooks.values()]
            .filter((w) => w.channel_id === m[1])
            .map((w) => ({ ...w, type: 1, user: world.userObject(world.bot.id) })),
        ];
      },
    ],
    [
      "POST",
      /^\/channels\/(\d+)\/webhooks$/,
      (m, body) => {
        if (world.noWebhooks.has(m[1])) return missingPermissions;
        const guild = world.guildOf(m[1]);
        if (!guild) return unknown("Channel", 10003);
        const w = {
          id: sf(),
          token: `whtok-${sf()}`,
          channel_id: m[1],
          guild_id: guild.id,
          name: String(body.json.name ?? "webhook"),
        };
        world.webhooks.set(w.id, w);
        return [
          200,
          { ...w, type: 1, avatar: null, application_id: null, user: world.userObject(world.bot.id) },
        ];
      },
    ],
    [
      "POST",
      /^\/webhooks\/(\d+)\/([^/]+)$/,
      (m, body, q) => {
        const w = webhook(m[1], m[2]);
        if (!w) return unknown("Webhook", 10015);
        const author = {
          id: w.id,
          username: String(body.json.username ?? w.name),
          avatar: null,
          discriminator: "0000",
          bot: true,
        };
        // Execute Webhook has no nonce: Discord ignores one, so the stand-in does too.
        delete body.json.nonce;
        delete body.json.enforce_nonce;
        const answer = create(target(w, q), `webhook:${w.id}`, author, body, {
          webhook_id: w.id,
          // Discord keeps the given avatar URL; recorded so tests can compare it.
          ...(typeof body.json.avatar_url === "string" ? { avatar_url_given: body.json.avatar_url } : {}),
        });
        return q.get("wait") === "true" || answer[0] !== 200 ? answer : [204];
      },
    ],
    [
      "PATCH",
      /^\/webhooks\/(\d+)\/([^/]+)\/messages\/(\d+)$/,
      (m, body, q) => {
        const w = webhook(m[1], m[2]);
        if (!w) return unknown("Webhook", 10015);
        const stored = world.findMessage(target(w, q), m[3]);
        if (!stored || stored.owner !== `webhook:${w.id}`) return unknown("Message", 10008);
        return edit(target(w, q), m[3], `webhook:${w.id}`, body);
      },
    ],
    [
      "DELETE",
      /^\/webhooks\/(\d+)\/([^/]+)\/messages\/(\d+)$/,
      (m, _b, q) => {
        const w = webhook(m[1], m[2]);
        if (!w) return unknown("Webhook", 10015);
        return remove(target(w, q), m[3]);
      },
    ],
    ["GET", /^\/guilds\/(\d+)\/members\/(\d+)$/, (m) => guildMember(m[1], m[2])],
    [
      "GET",
      /^\/guilds\/(\d+)\/audit-logs$/,
      (m, _b, q) => {
        const type = q.get("action_type");
        const entries = (world.auditLog.get(m[1]) ?? [])
          .filter((e) => !type || String(e.action_type) === type)
          .slice(-Number(q.get("limit") ?? 50))
          .reverse();
        const users = [...new Set(entries.flatMap((e) => [e.user_id, e.target_id]).map(String))]
          .filter((id) => world.users.has(id))
          .map((id) => world.userObject(id));
        return [
          200,
          {
            audit_log_entries: entries,
            users,
            webhooks: [],
            integrations: [],
            threads: [],
            application_commands: [],
            auto_moderation_rules: [],
            guild_scheduled_events: [],
          },
        ];
      },
    ],
    [
      "DELETE",
      /^\/guilds\/(\d+)\/members\/(\d+)$/,
      (m) => {
        const g = world.guilds.get(m[1]);
        if (!g?.members?.some((x) => x.user === m[2])) return unknown("Member", 10007);
        const refused = mayModerate(m[1], m[2]);
        if (refused) return refused;
        g.members = g.members.filter((x) => x.user !== m[2]);
        const entries = world.auditLog.get(g.id) ?? [];
        entries.push({
          id: sf(),
          action_type: 20,
          user_id: world.bot.id,
          target_id: m[2],
          reason: null,
          changes: [],
        });
        world.auditLog.set(g.id, entries);
        ctx.dispatch("GUILD_MEMBER_REMOVE", { guild_id: g.id, user: world.userObject(m[2]) });
        return [204];
      },
    ],
    [
      "PUT",
      /^\/guilds\/(\d+)\/bans\/(\d+)$/,
      (m) => {
        const g = world.guilds.get(m[1]);
        if (!g) return unknown("Guild", 10004);
        const refused = mayModerate(m[1], m[2]);
        if (refused) return refused;
        world.bans.add(`${m[1]}/${m[2]}`);
        ctx.dispatch("GUILD_BAN_ADD", { guild_id: g.id, user: world.userObject(m[2]) });
        if (g.members?.some((x) => x.user === m[2])) {
          g.members = g.members.filter((x) => x.user !== m[2]);
          ctx.dispatch("GUILD_MEMBER_REMOVE", { guild_id: g.id, user: world.userObject(m[2]) });
        }
        return [204];
      },
    ],
    [
      "DELETE",
      /^\/guilds\/(\d+)\/bans\/(\d+)$/,
      (m) => mayModerate(m[1]) ?? (world.bans.delete(`${m[1]}/${m[2]}`) ? [204] : unknown("Ban", 10026)),
    ],
    [
      // Modify Guild Member; the stand-in takes only a timeout (communication_disabled_until).
      "PATCH",
      /^\/guilds\/(\d+)\/members\/(\d+)$/,
      (m, body) => {
        const g = world.guilds.get(m[1]);
        if (!g) return unknown("Guild", 10004);
        if (!g.members?.some((x) => x.user === m[2])) return unknown("Member", 10007);
        // Discord ignores fields it does not know (discord.js also sends communicationDisabledUntil);
        // the member fields it knows but the stand-in does not model are refused loudly.
        const unmodelled = ["nick", "roles", "mute", "deaf", "channel_id", "flags"].filter(
          (k) => k in body.json,
        );
        if (unmodelled.length)
          return [
            400,
            { message: `stand-in: PATCH member with ${unmodelled.join(", ")} is not modelled`, code: 0 },
          ];
        if (!("communication_disabled_until" in body.json)) return guildMember(m[1], m[2]);
        const refused = mayModerate(m[1], m[2]);
        if (refused) return refused;
        const until = body.json.communication_disabled_until;
        const key = `${m[1]}/${m[2]}`;
        if (until === null) world.timeouts.delete(key);
        else {
          const t = typeof until === "string" ? Date.parse(until) : Number.NaN;
          // Discord: a timeout ends in the future and at most 28 days from now.
          if (!(t > Date.now() && t <= Date.now() + 28 * 86_400_000))
            return [
              400,
              {
                message: "Invalid Form Body",
                code: 50035,
                errors: {
                  communication_disabled_until: {
                    _errors: [
                      { code: "BASE_TYPE_BAD_TIME", message: "Invalid communication disabled timestamp" },
                    ],
                  },
                },
              },
            ];
          world.timeouts.set(key, new Date(t).toISOString());
        }
        const member = world.memberObject(m[1], m[2])!;
        ctx.dispatch("GUILD_MEMBER_UPDATE", { guild_id: m[1], ...member });
        return [200, member];
      },
    ],
  ];
}

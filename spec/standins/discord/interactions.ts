/**
 * Message components and interactions in the Discord stand-in, as strict as Discord: buttons
 * are validated when a message is sent or edited, a press is an INTERACTION_CREATE dispatch
 * (type 3, MESSAGE_COMPONENT) carrying the member's computed permissions, and the bot answers
 * once through `POST /interactions/{id}/{token}/callback` within 3 seconds (no bot token).
 */
import { type DiscordWorld, type Obj, sf } from "./DiscordWorld";
import type { Answer } from "./rest";

const ALL = (1n << 51n) - 1n;
export const ADMINISTRATOR = 1n << 3n;
/** Discord's default @everyone permissions (the stand-in's guilds use them). */
export const EVERYONE_PERMISSIONS = 1071698660929n;
const RESPONSE_WINDOW_MS = 3000;

export interface InteractionState {
  id: string;
  token: string;
  created: number;
  channelId: string;
  messageId: string;
  /** The callback the bot sent (type 4 reply, 6 deferred update, 7 update message). */
  response?: Obj;
}

const invalid = (field: string, code: string): Answer => [
  400,
  { message: "Invalid Form Body", code: 50035, errors: { [field]: { _errors: [{ code, message: code }] } } },
];

/**
 * `components` of a message as Discord checks them: at most 5 action rows (type 1) of at most
 * 5 buttons (type 2); a button has a style 1-5, a label up to 80 characters and a `custom_id`
 * of 1-100 characters (style 5, a link, has a `url` instead). Returns the stored form or an answer.
 */
export function checkComponents(raw: unknown): { components?: Obj[] } | { error: Answer } {
  if (raw === undefined || raw === null) return {};
  if (!Array.isArray(raw) || raw.length > 5) return { error: invalid("components", "BASE_TYPE_BAD_LENGTH") };
  for (const row of raw as Obj[]) {
    if (
      row?.type !== 1 ||
      !Array.isArray(row.components) ||
      row.components.length < 1 ||
      row.components.length > 5
    )
      return { error: invalid("components", "COMPONENT_LAYOUT_WIDTH_EXCEEDED") };
    for (const b of row.components as Obj[]) {
      if (b?.type !== 2) return { error: invalid("components", "UNION_TYPE_CHOICES") };
      const style = Number(b.style);
      if (!(style >= 1 && style <= 5)) return { error: invalid("components.style", "BASE_TYPE_CHOICES") };
      if (typeof b.label === "string" && b.label.length > 80)
        return { error: invalid("components.label", "BASE_TYPE_MAX_LENGTH") };
      if (style === 5) {
        if (typeof b.url !== "string") return { error: invalid("components.url", "BASE_TYPE_REQUIRED") };
      } else if (typeof b.custom_id !== "string" || b.custom_id.length < 1 || b.custom_id.length > 100)
        return { error: invalid("components.custom_id", "BASE_TYPE_BAD_LENGTH") };
    }
  }
  return { components: raw as Obj[] };
}

/** A member's permissions in a guild: @everyone, then their roles; the owner and administrators have all. */
export function memberPermissions(world: DiscordWorld, guildId: string, userId: string): bigint {
  const g = world.guilds.get(guildId);
  if (!g) return 0n;
  if (userId === world.bot.id) return ALL; // the stand-in's guilds are owned by the bot
  const m = g.members?.find((x) => x.user === userId);
  let p = EVERYONE_PERMISSIONS;
  for (const r of g.roles ?? []) if (m?.roles?.includes(r.id) && r.permissions) p |= BigInt(r.permissions);
  return p & ADMINISTRATOR ? ALL : p;
}

/** The INTERACTION_CREATE payload of a button press, and the state the callback route checks. */
export function buttonPress(
  world: DiscordWorld,
  press: { channelId: string; messageId: string; userId: string; customId: string },
): { state: InteractionState; payload: Obj } {
  const stored = world.findMessage(press.channelId, press.messageId);
  if (!stored) throw new Error(`no message ${press.messageId} in channel ${press.channelId}`);
  const buttons = ((stored.data.components ?? []) as Obj[]).flatMap((r) => (r.components ?? []) as Obj[]);
  if (!buttons.some((b) => b.custom_id === press.customId))
    throw new Error(`message ${press.messageId} shows no button ${press.customId}`);
  const guild = world.guildOf(press.channelId);
  const state: InteractionState = {
    id: sf(),
    token: `interaction-${sf()}`,
    created: Date.now(),
    channelId: press.channelId,
    messageId: press.messageId,
  };
  const payload: Obj = {
    id: state.id,
    application_id: world.bot.id,
    type: 3,
    token: state.token,
    version: 1,
    data: { custom_id: press.customId, component_type: 2 },
    channel_id: press.channelId,
    channel: world.channels.get(press.channelId),
    message: stored.data,
    locale: "en-US",
    app_permissions: String(ALL),
    entitlements: [],
    authorizing_integration_owners: { "0": guild?.id ?? "0" },
    context: guild ? 0 : 1,
    attachment_size_limit: 10485760,
  };
  if (guild) {
    payload.guild_id = guild.id;
    payload.guild_locale = "en-US";
    payload.member = {
      ...world.memberObject(guild.id, press.userId),
      permissions: String(memberPermissions(world, guild.id, press.userId)),
    };
  } else payload.user = world.userObject(press.userId);
  return { state, payload };
}

/**
 * `POST /interactions/{id}/{token}/callback`: once per interaction, within 3 seconds. Type 4
 * replies (flag 64: only the presser sees it), 6 acknowledges, 7 edits the message pressed.
 */
export function interactionCallback(
  world: DiscordWorld,
  state: InteractionState | undefined,
  token: string,
  body: Obj,
  withResponse: boolean,
  dispatch: (t: string, d: Obj) => void,
): Answer {
  if (!state || state.token !== token || Date.now() - state.created > RESPONSE_WINDOW_MS)
    return [404, { message: "Unknown interaction", code: 10062 }];
  if (state.response) return [400, { message: "Interaction has already been acknowledged.", code: 40060 }];
  const type = Number(body.type);
  const data = (body.data ?? {}) as Obj;
  if (type === 7) {
    const stored = world.findMessage(state.channelId, state.messageId);
    if (!stored) return [404, { message: "Unknown Message", code: 10008 }];
    const checked = checkComponents(data.components);
    if ("error" in checked) return checked.error;
    if (typeof data.content === "string") stored.data.content = data.content;
    if (data.components !== undefined) stored.data.components = checked.components ?? [];
    stored.data.edited_timestamp = new Date().toISOString();
    dispatch("MESSAGE_UPDATE", stored.data);
  } else if (type === 4) {
    if (typeof data.content !== "string" || !data.content)
      return invalid("data.content", "BASE_TYPE_REQUIRED");
  } else if (type !== 6) return invalid("type", "BASE_TYPE_CHOICES");
  state.response = body;
  if (!withResponse) return [204];
  return [
    200,
    {
      interaction: {
        id: state.id,
        type: 3,
        response_message_loading: false,
        response_message_ephemeral: (Number(data.flags) & 64) !== 0,
      },
    },
  ];
}

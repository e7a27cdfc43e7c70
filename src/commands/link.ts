import { askApproval } from "../core/approval";
import {
  type ChatInfo,
  ConnectionState,
  canAskApproval,
  canResolveChatId,
  type LoginRef,
  type NetworkClient,
} from "../core/connector";
import { BridgeError } from "../core/errors";
import { cleanName } from "../core/ghostName";
import { chatRefOf } from "../core/OutboundBridge";
import { Logger } from "../log/Logger";
import type { Portal } from "../store/types";
import type { BuiltinDeps } from "./builtin";
import type { Command, CommandContext } from "./CommandHandler";
import { ROOM_ADMIN_LEVEL, roomPowerOf } from "./roomPower";

const log = new Logger("link");

/** How long a remote chat's admins have to approve a link, unless configured. */
export const DEFAULT_APPROVAL_TIMEOUT_MS = 600_000;

type Entry = { login: LoginRef; client: NetworkClient };

/** Bridge admins, and room admins by the room version's rules (v12 creators included). */
export async function requireRoomAdmin(deps: BuiltinDeps, ctx: CommandContext): Promise<boolean> {
  if (ctx.level === "admin") return true;
  const level = await roomPowerOf(deps.api.intent(deps.botUserId), ctx.roomId, ctx.sender);
  if (level >= ROOM_ADMIN_LEVEL) return true;
  await ctx.reply(
    `Only admins of this room (power level ${ROOM_ADMIN_LEVEL}, or its creator) or bridge admins may do that here.`,
  );
  return false;
}

function minutes(ms: number): string {
  return ms >= 120_000 ? `${Math.round(ms / 60_000)} minutes` : `${Math.round(ms / 1000)} seconds`;
}

/**
 * The login a link goes through: the sender's own login of the platform, or else the platform's
 * shared bot (a config bot token), which needs the remote chat's consent unless the sender is
 * a bridge admin. Another user's own login is never used.
 */
function loginFor(
  deps: BuiltinDeps,
  ctx: CommandContext,
  platform: string,
): { entry: Entry; consent: boolean } | undefined {
  const own = deps.registry.clientForPlatform(platform, ctx.sender, false);
  if (own) return { entry: own, consent: false };
  const shared = deps.registry.clientForPlatform(platform);
  return shared && { entry: shared, consent: ctx.level !== "admin" };
}

/**
 * Saves the link. Returns what the answer adds: nothing, or that clients will not show the room
 * as bridged because the bot may not set its bridge info.
 */
async function save(
  deps: BuiltinDeps,
  ctx: CommandContext,
  entry: Entry,
  chat: Chat,
  info: ChatInfo,
): Promise<string> {
  const platform = entry.login.platform;
  const shown = await deps.portals.link(
    {
      platform,
      chatId: chat.id,
      roomId: ctx.roomId,
      loginId: entry.login.id,
      kind: info.kind,
      name: info.name,
      topic: info.topic,
      linked: true,
    },
    chat.sameIds,
  );
  return shown
    ? ""
    : " Clients will not show the room as bridged: give the bridge bot a power level that may send state events here, then link again.";
}

/** A chat as `link` resolved it: its portal key and the other keys of the same chat. */
type Chat = { id: string; sameIds: string[] };

/** The chat the user typed, resolved by the login's client; undefined (and answered) when unreadable. */
async function resolve(ctx: CommandContext, entry: Entry, typed: string): Promise<Chat | undefined> {
  const { client, login } = entry;
  if (!canResolveChatId(client)) return { id: typed.trim(), sameIds: [] };
  try {
    const id = await client.resolveChatId(typed);
    return { id, sameIds: client.sameChatIds(id).filter((k) => k !== id) };
  } catch (err) {
    if (err instanceof BridgeError) await ctx.reply(err.userMessage);
    else {
      log.warn("chat id not resolved", { platform: login.platform, err: String(err) });
      await ctx.reply(
        `I could not ask ${login.platform} about '${typed.slice(0, 80)}' just now; try again in a moment.`,
      );
    }
    return undefined;
  }
}

const label = (p: { platform: string; chatId: string; name?: string }) =>
  `${p.platform} chat ${p.name ? `"${p.name}" ` : ""}(${p.chatId})`;

/**
 * Why this room may not be linked to `chat`, or undefined when it may: the chat is bridged
 * already (here, or elsewhere under any of its keys), or this room already holds a chat of the
 * platform. One chat per platform per room: two chats of one platform in one room would not
 * hear each other (their people are the same platform's ghosts, and a message never goes back
 * to the platform it came from), so such a room would bridge them only half.
 */
async function refusal(
  deps: BuiltinDeps,
  ctx: CommandContext,
  platform: string,
  chat: Chat,
): Promise<string | undefined> {
  for (const key of [chat.id, ...chat.sameIds]) {
    const existing = await deps.portals.get(platform, key);
    if (!existing) continue;
    const same = key === chat.id ? "" : ` (as ${key})`;
    if (existing.roomId === ctx.roomId) return `This room is already linked to ${label(existing)}.`;
    return ctx.level === "admin"
      ? `${label({ ...existing, chatId: chat.id })} is already bridged to ${existing.roomId}${same}; unlink it there first.`
      : `${label({ ...existing, chatId: chat.id })} is already bridged to another room${same}; an admin of that room must unlink it first.`;
  }
  const other = (await deps.portals.forRoom(ctx.roomId)).find((p) => p.platform === platform);
  if (other)
    return `This room is already linked to ${label(other)}, and a room holds one chat per platform (two ${platform} chats in one room would not see each other's messages). Link the other chat to another room, or first \`unlink ${platform}\` here.`;
  return undefined;
}

async function isEncrypted(deps: BuiltinDeps, roomId: string): Promise<boolean> {
  const state = await deps.api.intent(deps.botUserId).getState(roomId, "m.room.encryption");
  return state !== undefined;
}

async function roomName(deps: BuiltinDeps, roomId: string): Promise<string> {
  const state = await deps.api
    .intent(deps.botUserId)
    .getState<{ name?: unknown }>(roomId, "m.room.name")
    .catch(() => undefined);
  return typeof state?.name === "string" && state.name ? `"${state.name.slice(0, 100)}"` : roomId;
}

/**
 * Asks the chat's admins, in the chat, to approve; answers in the room either way. Runs in the
 * background: the room's other events are not held up while the chat decides.
 */
function linkWithConsent(
  deps: BuiltinDeps,
  ctx: CommandContext,
  entry: Entry & { client: NetworkClient },
  chat: Chat,
  info: ChatInfo,
): void {
  const { client } = entry;
  const platform = entry.login.platform;
  const chatId = chat.id;
  const timeoutMs = deps.linkApprovalTimeoutMs ?? DEFAULT_APPROVAL_TIMEOUT_MS;
  const label = `${platform} chat ${info.name ? `"${info.name}" ` : ""}(${chatId})`;
  if (!canAskApproval(client)) {
    void ctx.reply(
      `${platform} cannot ask the chat for consent, so only a bridge admin may link ${label} through the shared bot. Ask one, or log in with your own ${platform} account.`,
    );
    return;
  }
  const run = async () => {
    const text = `${ctx.sender} asks to bridge this chat to the Matrix room ${await roomName(deps, ctx.roomId)}: everything said here would be copied there, and back. An admin of this chat may approve or deny.`;
    await ctx.reply(
      `I asked the admins of ${label} to approve the link; they have ${minutes(timeoutMs)}. I will tell you here.`,
    );
    let outcome: Awaited<ReturnType<typeof askApproval>>;
    try {
      outcome = await askApproval(client, chatRefOf({ chatId }), text, timeoutMs);
    } catch (err) {
      log.warn("approval request failed", { platform, chat: chatId, err: String(err) });
      await ctx.reply(`I could not ask ${label} for approval (${(err as Error).message}). Try again later.`);
      return;
    }
    if ("timedOut" in outcome) {
      await ctx.reply(
        `No admin of ${label} answered within ${minutes(timeoutMs)}: this room was not linked.`,
      );
      return;
    }
    const by = cleanName(outcome.by);
    if (!outcome.approved) {
      await ctx.reply(`${by}, an admin of ${label}, declined: this room was not linked.`);
      return;
    }
    const meanwhile = await refusal(deps, ctx, platform, chat);
    if (meanwhile) {
      await ctx.reply(`${by} approved, but meanwhile: ${meanwhile} This room was not linked.`);
      return;
    }
    const note = await save(deps, ctx, entry, chat, info);
    await ctx.reply(`${by}, an admin of ${label}, approved: linked this room to it.${note}`);
  };
  void run().catch((err: unknown) => log.error("link approval failed", { err: String(err) }));
}

/** A room's links, one line each, for `status`: platform, chat, login and its connection. */
export function describeLinks(deps: BuiltinDeps, ctx: CommandContext, portals: Portal[]): string[] {
  const states = deps.registry.loginStates();
  return portals.map((p) => {
    const entry = deps.registry.client(p.loginId);
    const state = states.find((s) => s.login.id === p.loginId);
    const login = entry?.login ?? state?.login;
    const mine = login && (login.ownerMxid === ctx.sender || ctx.level === "admin");
    const who = !login
      ? "no login (its login is gone: log in to the platform again)"
      : `the login of ${login.ownerMxid}${mine && login.remoteId ? ` (${login.remoteId})` : ""}`;
    const how = state ? state.state.toLowerCase().replace(/_/g, " ") : "not connected";
    const connected = state?.state === ConnectionState.Connected ? "connected" : `not connected (${how})`;
    const name = p.name ? ` ("${p.name}")` : "";
    return `this room is linked to ${p.platform} chat ${p.chatId}${name} through ${who}, ${connected}`;
  });
}

/** What `unlink` tells the room about the chats it unlinked. */
function unlinkAnswer(gone: Portal[], left: Portal[]): string {
  const lines = [
    `Unlinked ${gone.map(label).join(", ")}.`,
    `${gone.length > 1 ? "Their" : "Its"} new messages are no longer bridged, and no new room is made for ${gone.length > 1 ? "them" : "it"}, until someone links ${gone.length > 1 ? "them" : "it"} again (\`link ${gone[0].platform} ${gone[0].chatId}\` in a room). What was bridged stays in this room.`,
  ];
  if (left.length) lines.push(`This room is still linked to ${left.map(label).join(", ")}.`);
  return lines.join("\n");
}

export function linkCommands(deps: BuiltinDeps): Command[] {
  return [
    {
      name: "link",
      usage: "link <platform> <remote chat>",
      help: "Bridge this room to a remote chat: its id, or a link, mention or phone number naming it (room admins; one chat per platform per room; through the shared bot, an admin of the chat approves).",
      level: "user",
      async run(ctx) {
        const [platform, ...rest] = ctx.args;
        const typed = rest.join(" ");
        if (!platform || !typed) {
          await ctx.reply("Usage: link <platform> <remote chat>");
          return;
        }
        if (!(await requireRoomAdmin(deps, ctx))) return;
        if (deps.requireEncryption && !(await isEncrypted(deps, ctx.roomId))) {
          await ctx.reply(
            "This bridge links only encrypted rooms. Turn on encryption in the room's settings (it cannot be turned off again), then link.",
          );
          return;
        }
        if (!deps.registry.connectors.has(platform)) {
          const known = [...deps.registry.connectors.keys()].join(", ") || "none";
          await ctx.reply(`There is no '${platform}' connector enabled (enabled: ${known}).`);
          return;
        }
        const found = loginFor(deps, ctx, platform);
        if (!found) {
          await ctx.reply(
            `You have no ${platform} login, and the bridge has no shared ${platform} bot. Log in to ${platform} first (\`login ${platform}\` in your DM with me).`,
          );
          return;
        }
        const { entry, consent } = found;
        const chat = await resolve(ctx, entry, typed);
        if (!chat) return;
        const refused = await refusal(deps, ctx, platform, chat);
        if (refused) {
          await ctx.reply(refused);
          return;
        }
        let info: ChatInfo;
        try {
          info = await entry.client.chatInfo(chatRefOf({ chatId: chat.id }));
        } catch (err) {
          await ctx.reply(
            `${platform} does not know chat ${chat.id} (or the bridge cannot see it): ${(err as Error).message}`,
          );
          return;
        }
        if (consent) {
          linkWithConsent(deps, ctx, entry, chat, info);
          return;
        }
        const note = await save(deps, ctx, entry, chat, info);
        await ctx.reply(
          `Linked this room to ${label({ platform, chatId: chat.id, name: info.name })}.${note}`,
        );
      },
    },
    {
      name: "unlink",
      usage: "unlink [platform]",
      help: "Stop bridging this room to its chat of that platform, or to all its chats (room admins). The chat stays unlinked until someone links it again.",
      level: "user",
      async run(ctx) {
        const all = await deps.portals.forRoom(ctx.roomId);
        const [platform] = ctx.args;
        const gone = all.filter((p) => !platform || p.platform === platform);
        if (!gone.length) {
          await ctx.reply(
            !all.length
              ? "This room is not bridged."
              : `This room has no ${platform} link; it is linked to ${all.map(label).join(", ")}.`,
          );
          return;
        }
        if (!(await requireRoomAdmin(deps, ctx))) return;
        for (const p of gone) await deps.portals.unlink(p, ctx.sender);
        await ctx.reply(
          unlinkAnswer(
            gone,
            all.filter((p) => !gone.includes(p)),
          ),
        );
      },
    },
  ];
}

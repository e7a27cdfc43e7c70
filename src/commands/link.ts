import { askApproval } from "../core/approval";
import { type ChatInfo, canAskApproval, type LoginRef, type NetworkClient } from "../core/connector";
import { cleanName } from "../core/ghostName";
import { Logger } from "../log/Logger";
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

async function save(deps: BuiltinDeps, ctx: CommandContext, entry: Entry, chatId: string, info: ChatInfo) {
  const platform = entry.login.platform;
  await deps.portals.save({
    platform,
    chatId,
    roomId: ctx.roomId,
    loginId: entry.login.id,
    kind: info.kind,
    name: info.name,
    topic: info.topic,
    linked: true,
  });
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
  chatId: string,
  info: ChatInfo,
): void {
  const { client } = entry;
  const platform = entry.login.platform;
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
      outcome = await askApproval(client, { id: chatId }, text, timeoutMs);
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
    const existing = await deps.portals.get(platform, chatId);
    if (existing) {
      await ctx.reply(`${label} was bridged elsewhere meanwhile: this room was not linked.`);
      return;
    }
    await save(deps, ctx, entry, chatId, info);
    await ctx.reply(`${by}, an admin of ${label}, approved: linked this room to it.`);
  };
  void run().catch((err: unknown) => log.error("link approval failed", { err: String(err) }));
}

export function linkCommands(deps: BuiltinDeps): Command[] {
  return [
    {
      name: "link",
      usage: "link <platform> <remote chat id>",
      help: "Bridge this room to a remote chat (room admins; through the shared bot, an admin of the chat approves).",
      level: "user",
      async run(ctx) {
        const [platform, chatId] = ctx.args;
        if (!platform || !chatId) {
          await ctx.reply("Usage: link <platform> <remote chat id>");
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
        const existing = await deps.portals.get(platform, chatId);
        if (existing) {
          await ctx.reply(
            existing.roomId === ctx.roomId
              ? `This room is already linked to ${platform} chat ${chatId}.`
              : ctx.level === "admin"
                ? `${platform} chat ${chatId} is already bridged to ${existing.roomId}; unlink it there first.`
                : `${platform} chat ${chatId} is already bridged to another room; an admin of that room must unlink it first.`,
          );
          return;
        }
        const { entry, consent } = found;
        let info: ChatInfo;
        try {
          info = await entry.client.chatInfo({ id: chatId });
        } catch (err) {
          await ctx.reply(
            `${platform} does not know chat ${chatId} (or the bridge cannot see it): ${(err as Error).message}`,
          );
          return;
        }
        if (consent) {
          linkWithConsent(deps, ctx, entry, chatId, info);
          return;
        }
        await save(deps, ctx, entry, chatId, info);
        await ctx.reply(
          `Linked this room to ${platform} chat ${info.name ? `"${info.name}" ` : ""}(${chatId}).`,
        );
      },
    },
    {
      name: "unlink",
      usage: "unlink [platform]",
      help: "Stop bridging this room (room admins).",
      level: "user",
      async run(ctx) {
        const portals = (await deps.portals.forRoom(ctx.roomId)).filter(
          (p) => !ctx.args[0] || p.platform === ctx.args[0],
        );
        if (!portals.length) {
          await ctx.reply("This room is not bridged.");
          return;
        }
        if (!(await requireRoomAdmin(deps, ctx))) return;
        for (const p of portals) await deps.portals.remove(p);
        await ctx.reply(`Unlinked: ${portals.map((p) => `${p.platform} chat ${p.chatId}`).join(", ")}.`);
      },
    },
  ];
}

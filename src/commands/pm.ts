import type { PermissionLevel } from "../config/types";
import type { Backfill } from "../core/Backfill";
import type { ConnectorRegistry } from "../core/ConnectorRegistry";
import { type DirectChatRefusal, openDirectChat } from "../core/directChat";
import { chatKey, type PortalService } from "../core/PortalService";
import { Logger } from "../log/Logger";
import { type Intent, MatrixError } from "../matrix/MatrixApi";
import type { BuiltinDeps } from "./builtin";
import type { Command } from "./CommandHandler";

const log = new Logger("pm");

/** What starting a direct chat needs: the `pm` command and the web API share it. */
export interface DirectChatDeps {
  registry: ConnectorRegistry;
  portals: Pick<PortalService, "get" | "ensure">;
  /** The bridge bot: invites the user to the chat's room. */
  bot: Pick<Intent, "invite">;
  /** Brings a new portal's history over at once (where the platform has one). */
  backfill?: Pick<Backfill, "soon">;
}

/** A direct chat started (or found bridged already), or why not, with the text the user is shown. */
export type StartedDirectChat =
  | { ok: true; roomId: string; name: string; existing: boolean; note?: string; text: string }
  | { ok: false; reason: DirectChatRefusal | "unlinked"; text: string };

/**
 * Starts a direct chat with `typed` (an id, mention or phone number, as the platform reads it) on
 * `platform` for `who`: through their own login of the platform, bridge admins also through the
 * shared bot. The portal is made (its login's owner invited, and `who` when that is someone
 * else) or, when the chat is bridged already, named, with `who` invited again. A new portal's
 * history comes over at once. Refusals come back as text; other failures throw.
 */
export async function startDirectChat(
  deps: DirectChatDeps,
  who: { sender: string; level: PermissionLevel },
  platform: string,
  typed: string,
): Promise<StartedDirectChat> {
  const opened = await openDirectChat(deps, who.sender, who.level === "admin", platform, typed);
  if ("refused" in opened) return { ok: false, reason: opened.reason, text: opened.refused };
  const { entry, chat, note, existing } = opened;
  const portal = existing ?? (await deps.portals.ensure(platform, entry.login, entry.client, chat));
  if (!portal)
    return {
      ok: false,
      reason: "unlinked",
      text: `Your direct chat with ${typed} on ${platform} was unlinked; \`link ${platform} ${chatKey(chat)}\` in a room bridges it again.`,
    };
  // Also when it existed: a command delivered again after a crash finds the portal made.
  await deps.backfill?.soon(platform, portal.loginId, chat);
  if (existing || who.sender !== entry.login.ownerMxid) {
    await deps.bot.invite(portal.roomId, who.sender).catch((err: unknown) => {
      // Already in the room (or invited): nothing to do.
      if (!(err instanceof MatrixError && err.status === 403)) throw err;
    });
  }
  log.info("direct chat started from Matrix", { platform, chat: portal.chatId, existing: !!existing });
  const name = portal.name ?? typed;
  return {
    ok: true,
    roomId: portal.roomId,
    name,
    existing: !!existing,
    note,
    text: `${existing ? "Your direct chat with" : "Started a direct chat with"} ${name} on ${platform}: https://matrix.to/#/${portal.roomId} (you are invited).${note ? ` ${note}` : ""}`,
  };
}

/** `pm <platform> <user>`: a direct chat with a person on a platform, started from Matrix. */
export function pmCommands(deps: BuiltinDeps): Command[] {
  const shared: DirectChatDeps = {
    registry: deps.registry,
    portals: deps.portals,
    bot: deps.api.intent(deps.botUserId),
    backfill: deps.backfill,
  };
  return [
    {
      name: "pm",
      usage: "pm <platform> <user>",
      help: "Start a direct chat with a person on a platform (their id, mention or phone number) through your own login (bridge admins: also the shared bot); you are invited to its room.",
      level: "user",
      async run(ctx) {
        const [platform, ...rest] = ctx.args;
        const typed = rest.join(" ").trim();
        if (!platform || !typed) {
          await ctx.reply("Usage: pm <platform> <user>");
          return;
        }
        const out = await startDirectChat(shared, ctx, platform, typed);
        await ctx.reply(out.text);
      },
    },
  ];
}

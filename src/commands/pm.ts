import { openDirectChat } from "../core/directChat";
import { chatKey } from "../core/PortalService";
import { Logger } from "../log/Logger";
import { MatrixError } from "../matrix/MatrixApi";
import type { BuiltinDeps } from "./builtin";
import type { Command } from "./CommandHandler";

const log = new Logger("pm");

/**
 * `pm <platform> <user>`: a direct chat with a person on a platform, started from Matrix. Through
 * the sender's own login of the platform; bridge admins may use the shared bot. The portal is
 * made (its login's owner invited, and the sender when that is someone else) or, when the chat
 * is bridged already, named, with the sender invited again.
 */
export function pmCommands(deps: BuiltinDeps): Command[] {
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
        const opened = await openDirectChat(deps, ctx.sender, ctx.level === "admin", platform, typed);
        if ("refused" in opened) {
          await ctx.reply(opened.refused);
          return;
        }
        const { entry, chat, note, existing } = opened;
        const portal = existing ?? (await deps.portals.ensure(platform, entry.login, entry.client, chat));
        if (!portal) {
          await ctx.reply(
            `Your direct chat with ${typed} on ${platform} was unlinked; \`link ${platform} ${chatKey(chat)}\` in a room bridges it again.`,
          );
          return;
        }
        if (existing || ctx.sender !== entry.login.ownerMxid) {
          await deps.api
            .intent(deps.botUserId)
            .invite(portal.roomId, ctx.sender)
            .catch((err: unknown) => {
              // Already in the room (or invited): nothing to do.
              if (!(err instanceof MatrixError && err.status === 403)) throw err;
            });
        }
        log.info("direct chat started from Matrix", { platform, chat: portal.chatId, existing: !!existing });
        await ctx.reply(
          `${existing ? "Your direct chat with" : "Started a direct chat with"} ${portal.name ?? typed} on ${platform}: https://matrix.to/#/${portal.roomId} (you are invited).${note ? ` ${note}` : ""}`,
        );
      },
    },
  ];
}

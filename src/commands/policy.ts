import type { ListInfo, PolicyLists } from "../core/PolicyLists";
import type { Intent } from "../matrix/MatrixApi";
import type { Command, CommandContext } from "./CommandHandler";
import { roomPowerOf } from "./roomPower";

/** The level a room gives moderators by default (`ban` in m.room.power_levels). */
const DEFAULT_BAN_LEVEL = 50;

/** A room id (`!opaque:server`, or `!opaque` from room version 12) or an alias (`#name:server`). */
const REF = /^(![^\s:]+(:\S+)?|#[^:\s]+:\S+)$/;

/**
 * Whether the sender may change what the room follows: bridge admins, and whoever may ban in
 * the room (its `ban` power level; room v12 creators included), since a list bans people there.
 */
async function mayModerate(bot: Intent, ctx: CommandContext): Promise<boolean> {
  if (ctx.level === "admin") return true;
  const pl = await bot.getState<{ ban?: unknown }>(ctx.roomId, "m.room.power_levels").catch(() => undefined);
  const needed = typeof pl?.ban === "number" && Number.isFinite(pl.ban) ? pl.ban : DEFAULT_BAN_LEVEL;
  if ((await roomPowerOf(bot, ctx.roomId, ctx.sender)) >= needed) return true;
  await ctx.reply(
    `Only moderators of this room (power level ${needed}, who may ban here) or bridge admins may do that.`,
  );
  return false;
}

function line(l: ListInfo): string {
  const state = l.joined ? `${l.rules} ban rule${l.rules === 1 ? "" : "s"}` : "not followed";
  return `- ${l.ref}${l.ref !== l.roomId ? ` (${l.roomId})` : ""}: ${state}${l.problem ? ` — ${l.problem}` : ""}`;
}

/** `policy subscribe|unsubscribe|list`: the policy lists a room follows. */
export function policyCommand(deps: { policy: PolicyLists; bot: Intent }): Command {
  const usage = "Usage: policy subscribe <policy room alias or id> | policy unsubscribe <room> | policy list";
  return {
    name: "policy",
    usage: "policy subscribe|unsubscribe <policy room> | policy list",
    help: "Follow a policy list (Mjolnir/Draupnir ban list) in this room: people its m.ban rules match are banned here and on the linked chats, and their new messages are dropped.",
    level: "relay",
    async run(ctx) {
      const [sub, ref] = ctx.args;
      if (sub === "list" || sub === undefined) {
        const { bridge, room } = deps.policy.describe(ctx.roomId);
        const lines = [
          bridge.length ? "Lists the whole bridge follows:" : "The bridge follows no list of its own.",
          ...bridge.map(line),
          room.length ? "Lists this room follows:" : "This room follows no list of its own.",
          ...room.map(line),
        ];
        await ctx.reply(lines.join("\n"));
        return;
      }
      if ((sub !== "subscribe" && sub !== "unsubscribe") || !ref || !REF.test(ref)) {
        await ctx.reply(usage);
        return;
      }
      if (!(await mayModerate(deps.bot, ctx))) return;
      if (sub === "subscribe") {
        const info = await deps.policy.subscribe(ctx.roomId, ref, ctx.sender);
        await ctx.reply(
          `This room now follows ${ref} (${info.rules} ban rule${info.rules === 1 ? "" : "s"}). ` +
            "Remote people its rules match are banned here and on the linked chats where I may; " +
            "their new messages, and those of matching Matrix users, are not bridged.",
        );
        return;
      }
      const done = await deps.policy.unsubscribe(ctx.roomId, ref);
      await ctx.reply(
        done
          ? `This room no longer follows ${ref}; bans made for its rules alone are lifted.`
          : `This room does not follow ${ref}. Write \`policy list\` to see what it follows.`,
      );
    },
  };
}

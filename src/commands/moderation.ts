import { type Audit, type AuditResult, auditLine } from "../core/Audit";
import type { ConnectorRegistry } from "../core/ConnectorRegistry";
import type { Erasure } from "../core/Erasure";
import type { GhostService } from "../core/GhostService";
import type { Moderation } from "../core/Moderation";
import type { Intent } from "../matrix/MatrixApi";
import type { Command, CommandContext } from "./CommandHandler";
import {
  ArgError,
  checkDuration,
  humanDuration,
  parseCount,
  parseDuration,
  parseTarget,
  reasonAfter,
} from "./moderationArgs";
import { roomPowerOf } from "./roomPower";

export interface ModerationCommandDeps {
  bot: Intent;
  moderation: Moderation;
  erasure: Erasure;
  audit: Audit;
  ghosts: Pick<GhostService, "isGhost" | "mxidFor" | "remoteIdOf">;
  registry: Pick<ConnectorRegistry, "connectors">;
  /** Room power level needed (`moderation.min_power_level`). */
  minPowerLevel: number;
}

/** Purge at most this many messages in one command; audit shows at most this many entries. */
const PURGE_MAX = 200;
const AUDIT_MAX = 100;

/** Who a command is about, as a Matrix id (a `platform:id` becomes that platform's ghost). */
function targetOf(deps: ModerationCommandDeps, ctx: CommandContext): string {
  const html = (ctx.event.content as { formatted_body?: unknown }).formatted_body;
  const t = parseTarget(ctx.args[0], typeof html === "string" ? html : undefined);
  if (t.kind === "mxid") return t.mxid;
  if (!deps.registry.connectors.has(t.platform))
    throw new ArgError(
      `'${t.platform}' is not a platform of this bridge (${[...deps.registry.connectors.keys()].join(", ") || "none"})`,
    );
  return deps.ghosts.mxidFor(t.platform, t.remoteId);
}

/**
 * The sender may moderate this room: a bridge admin, or power level `minPowerLevel` in the room
 * and above the target's (as Matrix itself requires of a moderator); says why not otherwise.
 */
async function mayModerate(
  deps: ModerationCommandDeps,
  ctx: CommandContext,
  target?: string,
): Promise<boolean> {
  if (ctx.isManagementRoom && !target) return ctx.level === "admin";
  if (target === deps.bot.userId) {
    await ctx.reply("I do not act on myself.");
    return false;
  }
  if (target === ctx.sender) {
    await ctx.reply("That would be yourself.");
    return false;
  }
  if (ctx.level === "admin") return true;
  const mine = await roomPowerOf(deps.bot, ctx.roomId, ctx.sender);
  if (mine < deps.minPowerLevel) {
    await ctx.reply(
      `Only moderators of this room (power level ${deps.minPowerLevel} or more) or bridge admins may do that here.`,
    );
    return false;
  }
  if (target && (await roomPowerOf(deps.bot, ctx.roomId, target)) >= mine) {
    await ctx.reply(`${target} has as much power in this room as you or more: ask someone above them.`);
    return false;
  }
  return true;
}

/** "telegram -100: done; discord 42: not done (…)". */
export function outcome(results: AuditResult[]): string {
  if (!results.length) return "nothing to do here";
  return results
    .map((r) => `${r.where}: ${r.ok ? (r.detail ?? "done") : `not done (${r.detail ?? "failed"})`}`)
    .join("; ");
}

/** A command taking a target: argument errors are answered with the usage. */
function withTarget(
  deps: ModerationCommandDeps,
  usage: string,
  run: (ctx: CommandContext, target: string) => Promise<void>,
): (ctx: CommandContext) => Promise<void> {
  return async (ctx) => {
    let target: string;
    try {
      target = targetOf(deps, ctx);
    } catch (err) {
      if (!(err instanceof ArgError)) throw err;
      await ctx.reply(`Usage: ${usage} — ${err.message}.`);
      return;
    }
    if (ctx.isManagementRoom) {
      await ctx.reply("Run this in the room where the person is, not in your management room.");
      return;
    }
    if (!(await mayModerate(deps, ctx, target))) return;
    try {
      await run(ctx, target);
    } catch (err) {
      if (!(err instanceof ArgError)) throw err;
      await ctx.reply(`Usage: ${usage} — ${err.message}.`);
    }
  };
}

/** ban, kick, unban, mute, unmute, purge, audit, forget. */
export function moderationCommands(deps: ModerationCommandDeps): Command[] {
  const membership = (name: "ban" | "kick" | "unban", verb: string, help: string): Command => {
    const usage = name === "unban" ? "unban <user>" : `${name} <user> [reason]`;
    return {
      name,
      usage,
      help,
      level: "relay",
      run: withTarget(deps, usage, async (ctx, target) => {
        const reason = name === "unban" ? undefined : reasonAfter(ctx.args, 1);
        const results = await deps.moderation.act(name, {
          roomId: ctx.roomId,
          actor: ctx.sender,
          target,
          reason,
        });
        await ctx.reply(`${verb} ${target}: ${outcome(results)}.`);
      }),
    };
  };
  return [
    membership(
      "ban",
      "Banned",
      "Ban someone (a Matrix user, or a platform user on every linked chat where the bot may).",
    ),
    membership(
      "kick",
      "Kicked",
      "Remove someone from the room and, for a platform user, from their linked chats.",
    ),
    membership("unban", "Unbanned", "Lift a ban in the room and on the linked chats."),
    {
      name: "mute",
      usage: "mute <user> [duration] [reason]",
      help: "Silence someone for a while (10m, 2h, 1d; none: until unmute): Matrix users by power level, platform users where the platform can.",
      level: "relay",
      run: withTarget(deps, "mute <user> [duration like 10m, 2h, 1d] [reason]", async (ctx, target) => {
        const ms = ctx.args[1] !== undefined ? parseDuration(ctx.args[1]) : undefined;
        const until = ms !== undefined ? Date.now() + checkDuration(ms) : undefined;
        const reason = reasonAfter(ctx.args, ms !== undefined ? 2 : 1);
        const results = await deps.moderation.mute(
          { roomId: ctx.roomId, actor: ctx.sender, target, reason },
          until,
        );
        const span = ms !== undefined ? `for ${humanDuration(ms)}` : "until unmuted";
        await ctx.reply(`Muted ${target} ${span}: ${outcome(results)}.`);
      }),
    },
    {
      name: "unmute",
      usage: "unmute <user>",
      help: "Lift a mute.",
      level: "relay",
      run: withTarget(deps, "unmute <user>", async (ctx, target) => {
        const results = await deps.moderation.unmute({ roomId: ctx.roomId, actor: ctx.sender, target });
        await ctx.reply(`Unmuted ${target}: ${outcome(results)}.`);
      }),
    },
    {
      name: "purge",
      usage: "purge <user> [n]",
      help: `Remove someone's n newest messages (default 10, at most ${PURGE_MAX}) in Matrix and, those bridged, on every linked chat.`,
      level: "relay",
      run: withTarget(deps, `purge <user> [n, 1 to ${PURGE_MAX}]`, async (ctx, target) => {
        const n = parseCount(ctx.args[1], 10, PURGE_MAX);
        const results = await deps.erasure.purge({ roomId: ctx.roomId, actor: ctx.sender, target }, n);
        await ctx.reply(
          results.length
            ? `Purged ${target}: ${outcome(results)}.`
            : `No recent messages of ${target} in this room.`,
        );
      }),
    },
    {
      name: "audit",
      usage: "audit [n]",
      help: `The n newest moderation actions in this room (default 10, at most ${AUDIT_MAX}); in an admin's management room, of the whole bridge.`,
      level: "relay",
      async run(ctx) {
        let n: number;
        try {
          n = parseCount(ctx.args[0], 10, AUDIT_MAX);
        } catch (err) {
          if (!(err instanceof ArgError)) throw err;
          await ctx.reply(`Usage: audit [n] — ${err.message}.`);
          return;
        }
        if (!(await mayModerate(deps, ctx))) {
          if (ctx.isManagementRoom) await ctx.reply("The whole bridge's audit log is for bridge admins.");
          return;
        }
        const all = ctx.isManagementRoom && ctx.level === "admin";
        const entries = await deps.audit.list({ roomId: all ? undefined : ctx.roomId, limit: n });
        await ctx.reply(
          entries.length
            ? `Moderation log${all ? " of the bridge" : ""}, newest first:\n${entries.map(auditLine).join("\n")}`
            : "No moderation actions recorded here yet.",
        );
      },
    },
    {
      name: "forget",
      usage: "forget <ghost or platform:id> [--redact]",
      help: "Erase what the bridge holds about a platform user (profile, message map); --redact also removes their messages in Matrix.",
      level: "admin",
      async run(ctx) {
        const usage = "Usage: forget <@ghost:server or platform:id> [--redact]";
        const redact = ctx.args.includes("--redact");
        const words = ctx.args.filter((a) => a !== "--redact");
        let mxid: string;
        try {
          mxid = targetOf(deps, { ...ctx, args: words });
        } catch (err) {
          if (!(err instanceof ArgError)) throw err;
          await ctx.reply(`${usage} — ${err.message}.`);
          return;
        }
        const remoteId = deps.ghosts.remoteIdOf(mxid);
        const platform = [...deps.registry.connectors.keys()].find((p) => deps.ghosts.isGhost(mxid, p));
        if (words.length > 1 || remoteId === undefined || !platform) {
          await ctx.reply(`${usage} — only platform users (the bridge's ghosts) can be forgotten.`);
          return;
        }
        const { pseudonym, results } = await deps.erasure.forget(
          { actor: ctx.sender, mxid, platform, remoteId },
          redact,
        );
        await ctx.reply(`Forgotten; the audit log calls them ${pseudonym} from now on: ${outcome(results)}.`);
      },
    },
  ];
}

import type { Quarantine } from "../core/Quarantine";
import type { QuarantineRow } from "../store/types";
import type { Command } from "./CommandHandler";

const PAGE = 20;
const USAGE = "quarantine [list [page]] | quarantine retry <id> | quarantine drop <id>";

/** One line per item: what it was, where it was going, why it is here. */
function line(r: QuarantineRow): string {
  const what = r.kind === "matrix" ? "Matrix event" : "remote event";
  const where = r.roomId ? ` in ${r.roomId}` : ` (${r.queueKey})`;
  const retry = r.payloadSize > 0 ? "" : " — cannot be retried (not stored)";
  return `#${r.id} ${what} ${r.eventId ?? "(no id)"}${where}, ${r.attempts} attempt(s), ${r.createdAt.toISOString()}: ${r.reason.slice(0, 300)}${retry}`;
}

/** `quarantine`: what the bridge could not take or deliver, for bridge admins. */
export function quarantineCommand(quarantine: Quarantine): Command {
  return {
    name: "quarantine",
    usage: USAGE,
    help: "Events the bridge could not take or deliver: list, retry or drop them (bridge admins).",
    level: "admin",
    async run(ctx) {
      const [sub = "list", arg] = ctx.args;
      if (sub === "list") {
        const page = arg === undefined ? 1 : Number(arg);
        if (!Number.isInteger(page) || page < 1 || page > 1_000_000) {
          await ctx.reply(`Usage: ${USAGE}`);
          return;
        }
        const { total, items } = await quarantine.list({ limit: PAGE, offset: (page - 1) * PAGE });
        if (!total) {
          await ctx.reply("The quarantine is empty: every event was taken and delivered or is on its way.");
          return;
        }
        const pages = Math.ceil(total / PAGE);
        const head = `${total} event(s) in the quarantine (page ${page} of ${pages}):`;
        const tail = "Write `quarantine retry <id>` to queue one again, `quarantine drop <id>` to forget it.";
        await ctx.reply([head, ...items.map(line), tail].join("\n"));
        return;
      }
      if ((sub === "retry" || sub === "drop") && arg && /^\d{1,18}$/.test(arg)) {
        if (sub === "drop") {
          await ctx.reply(
            (await quarantine.drop(arg)) ? `Dropped #${arg}.` : `There is no #${arg} in the quarantine.`,
          );
          return;
        }
        const result = await quarantine.retry(arg);
        const text = {
          queued: `#${arg} is queued again; if it fails again it comes back here.`,
          "not-found": `There is no #${arg} in the quarantine.`,
          "not-retryable": `#${arg} cannot be retried: the bridge could not store the event itself. Drop it when you have read the reason.`,
        }[result];
        await ctx.reply(text);
        return;
      }
      await ctx.reply(`Usage: ${USAGE}`);
    },
  };
}

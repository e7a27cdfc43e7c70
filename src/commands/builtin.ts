import type { Backfill } from "../core/Backfill";
import type { ConnectorRegistry } from "../core/ConnectorRegistry";
import { canRelay, type LoginPrompt, type NetworkConnector } from "../core/connector";
import { txnIdFor } from "../core/InboundBridge";
import { chatRefOf } from "../core/OutboundBridge";
import type { PortalService } from "../core/PortalService";
import type { MatrixApi } from "../matrix/MatrixApi";
import { MatrixError } from "../matrix/MatrixApi";
import type { Store } from "../store/Store";
import { VERSION } from "../version";
import { loginWithToken, logoutOwn, runInteractiveLogin, visibleLoginStates } from "./accounts";
import type { Command, CommandContext, CommandHandler } from "./CommandHandler";
import { describeLinks, linkCommands } from "./link";
import { pmCommands } from "./pm";

/** Removes a message that carried a secret; says so when the bot may not. */
async function redactSecret(deps: BuiltinDeps, ctx: CommandContext): Promise<string> {
  try {
    await deps.api
      .intent(deps.botUserId)
      .redact(ctx.roomId, ctx.event.event_id, `clawbridge-redact-${ctx.event.event_id}`, "contained a token");
    return "I removed your message with the token.";
  } catch {
    return "Please delete your message with the token: I may not remove it here.";
  }
}

/**
 * An interactive login (a QR code to scan): runs in the background so the management room
 * stays responsive, and posts its prompts, images and the outcome there.
 */
async function interactiveLogin(
  deps: BuiltinDeps,
  ctx: CommandContext,
  platform: string,
  connector: NetworkConnector,
): Promise<void> {
  if (!ctx.isManagementRoom) {
    await ctx.reply(`Log in to ${platform} in your DM with me: the login shows secrets (a QR code).`);
    return;
  }
  const bot = deps.api.intent(deps.botUserId);
  let n = 0;
  const txn = (what: string) => txnIdFor("login", ctx.event.event_id, what, n++);
  const prompt: LoginPrompt = {
    say: async (text, html) => {
      const content: Record<string, unknown> = { msgtype: "m.notice", body: text };
      if (html) Object.assign(content, { format: "org.matrix.custom.html", formatted_body: html });
      await bot.sendEvent(ctx.roomId, "m.room.message", content, txn("say"));
    },
    image: async (media, body) => {
      const source = await bot.uploadFor(ctx.roomId, media.data, media.mimetype, media.name);
      return bot.sendEvent(
        ctx.roomId,
        "m.room.message",
        { msgtype: "m.image", body, ...source, info: { mimetype: media.mimetype, size: media.data.length } },
        txn("image"),
      );
    },
    retract: async (handle) => {
      await bot.redact(ctx.roomId, handle, txn("retract"), "expired").catch(() => undefined);
    },
  };
  void runInteractiveLogin(deps.registry, ctx.sender, platform, connector, ctx.args.slice(1), prompt).catch(
    () => undefined,
  );
}

export interface BuiltinDeps {
  handler: CommandHandler;
  api: MatrixApi;
  store: Store;
  registry: ConnectorRegistry;
  portals: PortalService;
  botUserId: string;
  queueDepth(): number;
  startedAt: number;
  /** How long a remote chat's admins have to approve a link through the shared bot. */
  linkApprovalTimeoutMs?: number;
  /** Only encrypted rooms may be linked (`encryption.require`). */
  requireEncryption?: boolean;
  /** Brings the history of a portal made by `pm` over at once. */
  backfill?: Pick<Backfill, "soon">;
}

/** The logins `ctx`'s sender may see: their own; bridge admins see all. */
function visibleStates(deps: BuiltinDeps, ctx: CommandContext) {
  return visibleLoginStates(deps.registry, ctx);
}

function uptime(ms: number): string {
  const s = Math.floor(ms / 1000);
  return s < 120 ? `${s}s` : s < 7200 ? `${Math.floor(s / 60)}m` : `${Math.floor(s / 3600)}h`;
}

/** help, ping, version, status, login, logout, relay, link, unlink. */
export function builtinCommands(deps: BuiltinDeps): Command[] {
  return [
    {
      name: "help",
      usage: "help",
      help: "Show this list.",
      level: "relay",
      async run(ctx) {
        const visible = deps.handler.list().filter((c) => ctx.level === "admin" || c.level !== "admin");
        const lines = visible.map((c) => `${c.usage} — ${c.help}`);
        const html = `<ul>${visible.map((c) => `<li><code>${c.usage}</code> — ${c.help}</li>`).join("")}</ul>`;
        await ctx.reply(`Commands:\n${lines.join("\n")}`, `<p>Commands:</p>${html}`);
      },
    },
    {
      name: "ping",
      usage: "ping",
      help: "Check the bridge, the homeserver and each platform connection.",
      level: "user",
      async run(ctx) {
        const lines = [`bridge: ok (up ${uptime(Date.now() - deps.startedAt)})`];
        const t0 = performance.now();
        try {
          await deps.api.versions();
          lines.push(`homeserver: ok (${Math.round(performance.now() - t0)} ms)`);
        } catch (err) {
          lines.push(`homeserver: unreachable (${err instanceof MatrixError ? err.message : String(err)})`);
        }
        const states = visibleStates(deps, ctx);
        if (!states.length)
          lines.push(
            deps.registry.connectors.size
              ? `platforms: ${[...deps.registry.connectors.keys()].join(", ")} (no login of yours)`
              : "platforms: none enabled",
          );
        for (const s of states) {
          const mine = s.login.ownerMxid === ctx.sender ? " (yours)" : "";
          lines.push(`${s.login.platform}${mine}: ${s.state}${s.message ? ` — ${s.message}` : ""}`);
        }
        await ctx.reply(lines.join("\n"));
      },
    },
    {
      name: "version",
      usage: "version",
      help: "Show the bridge version.",
      level: "relay",
      async run(ctx) {
        await ctx.reply(`clawbridge ${VERSION}`);
      },
    },
    {
      name: "status",
      usage: "status",
      help: "Portals, queued deliveries, logins, and this room's links (platform, chat, login, connected or not).",
      level: "user",
      async run(ctx) {
        const portals = await deps.store.countPortals();
        const here = await deps.portals.forRoom(ctx.roomId);
        // This command is itself a queued delivery until it has been answered: not counted.
        const queued = Math.max(0, deps.queueDepth() - 1);
        const lines = [
          `portals: ${portals}`,
          `queued deliveries: ${queued}`,
          `connectors: ${[...deps.registry.connectors.keys()].join(", ") || "none"}`,
        ];
        lines.push(...(here.length ? describeLinks(deps, ctx, here) : ["this room bridges no chat"]));
        for (const s of visibleStates(deps, ctx))
          lines.push(`login ${s.login.platform} (${s.login.ownerMxid}): ${s.state}`);
        await ctx.reply(lines.join("\n"));
      },
    },
    {
      name: "login",
      usage: "login <platform> [token or phone number]",
      help: "Connect a platform account: a bot token (Telegram, bridge admins), or your own WhatsApp by QR code or pairing code (management room).",
      level: "user",
      async run(ctx) {
        const [platform, token] = ctx.args;
        const interactive = platform ? deps.registry.connectors.get(platform) : undefined;
        if (interactive?.loginInteractive && (!token || !interactive.loginWithToken)) {
          await interactiveLogin(deps, ctx, platform!, interactive);
          return;
        }
        if (!platform || !token) {
          await ctx.reply("Usage: login <platform> <token>");
          return;
        }
        const note = await redactSecret(deps, ctx);
        if (!ctx.isManagementRoom) {
          await ctx.reply(`Tokens are secrets: send login commands only in your DM with me. ${note}`);
          return;
        }
        const result = await loginWithToken(deps.registry, ctx, platform, token);
        await ctx.reply(`${result.text} ${note}`);
      },
    },
    {
      name: "logout",
      usage: "logout <platform>",
      help: "Disconnect your account of a platform.",
      level: "user",
      async run(ctx) {
        const [platform] = ctx.args;
        if (!platform) {
          await ctx.reply("Usage: logout <platform>");
          return;
        }
        const gone = await logoutOwn(deps.registry, ctx.sender, platform);
        if (!gone.length) {
          await ctx.reply(`You have no ${platform} login.`);
          return;
        }
        await ctx.reply(`Logged out of ${platform}. Its portals stay; they resume when you log in again.`);
      },
    },
    {
      name: "relay",
      usage: "relay [on|off]",
      help: "In a portal of your own account (WhatsApp): relay Matrix users without a login through it, with their name.",
      level: "user",
      async run(ctx) {
        const want = ctx.args[0]?.toLowerCase();
        if (want !== undefined && want !== "on" && want !== "off") {
          await ctx.reply("Usage: relay [on|off]");
          return;
        }
        const lines: string[] = [];
        for (const portal of await deps.portals.forRoom(ctx.roomId)) {
          const entry = deps.registry.client(portal.loginId);
          if (!entry || !canRelay(entry.client)) continue;
          const chat = chatRefOf(portal);
          if (want !== undefined) {
            if (entry.login.ownerMxid !== ctx.sender && ctx.level !== "admin") {
              lines.push(
                `${portal.platform}: only ${entry.login.ownerMxid}, whose account this chat is, may change relaying.`,
              );
              continue;
            }
            await entry.client.setRelay(chat, want === "on");
          }
          const on = await entry.client.relayEnabled(chat);
          lines.push(
            `${portal.platform}: relaying is ${on ? "on: messages of people without a login go out through" : "off: only"} ${entry.login.ownerMxid}${on ? "'s account, with their name" : " writes to this chat"}.`,
          );
        }
        await ctx.reply(
          lines.length ? lines.join("\n") : "This room has no portal whose platform relays per chat.",
        );
      },
    },
    ...linkCommands(deps),
    ...pmCommands(deps),
  ];
}

import { randomBytes } from "node:crypto";
import { remoteIdFromGhost } from "../config/Config";
import type { BridgeConfig, PermissionLevel } from "../config/types";
import { BoundedMap } from "../core/Bounded";
import { txnIdFor } from "../core/InboundBridge";
import type { Permissions } from "../core/Permissions";
import { Logger } from "../log/Logger";
import type { Intent, RoomEvent } from "../matrix/MatrixApi";
import type { Store } from "../store/Store";

const log = new Logger("CommandHandler");

export interface CommandContext {
  roomId: string;
  sender: string;
  level: PermissionLevel;
  args: string[];
  /** The rest of the line after the command name, unsplit. */
  rest: string;
  isManagementRoom: boolean;
  event: RoomEvent;
  reply(text: string, html?: string): Promise<void>;
}

export interface Command {
  name: string;
  usage: string;
  help: string;
  /** Lowest bridge permission level that may run it. */
  level: PermissionLevel;
  run(ctx: CommandContext): Promise<void>;
}

/** How long `runAs` waits for the first answer of a command that answers from background work. */
const FIRST_REPLY_WAIT_MS = 10_000;

/** Longest part of an unknown command word that is quoted back. */
const QUOTE_MAX = 24;

/**
 * The unknown command word as it may be quoted back: letters, digits and a few harmless
 * marks only (no markup, no control characters), at most {@link QUOTE_MAX} of them.
 */
export function quoteCommandWord(word: string): string {
  const chars = [...word];
  const kept = chars
    .slice(0, QUOTE_MAX)
    .filter((c) => /[\p{L}\p{N}._-]/u.test(c))
    .join("");
  return `${kept || "?"}${chars.length > QUOTE_MAX ? "…" : ""}`;
}

const REFUSAL =
  "Sorry, you are not allowed to use this bridge. Ask the bridge's administrator to add you to bridge.permissions.";

/**
 * Commands to the bridge bot and the bot's own room membership. In a user's management room
 * (their DM with the bot) commands need no prefix; elsewhere they start with the prefix.
 */
export class CommandHandler {
  private readonly commands = new Map<string, Command>();
  private readonly managementRooms = new BoundedMap<string, string | null>(10_000);

  constructor(
    private readonly opts: { config: BridgeConfig; store: Store; bot: Intent; permissions: Permissions },
  ) {}

  register(command: Command): void {
    this.commands.set(command.name, command);
  }

  list(): Command[] {
    return [...this.commands.values()];
  }

  /** Handles the event if it is for the bot; returns true when it was. */
  async handle(ev: RoomEvent): Promise<boolean> {
    const { bot } = this.opts;
    if (ev.type === "m.room.member" && ev.state_key === bot.userId) {
      await this.botMembership(ev);
      return true;
    }
    if (ev.type !== "m.room.message") return false;
    const content = ev.content as { msgtype?: unknown; body?: unknown };
    if (content.msgtype !== "m.text" || typeof content.body !== "string") return false;
    if ((ev.content["m.relates_to"] as { rel_type?: string } | undefined)?.rel_type === "m.replace")
      return false;
    const prefix = this.opts.config.bridge.command_prefix;
    const body = content.body.trim();
    const isManagementRoom = (await this.managementRoomOwner(ev.room_id)) === ev.sender;
    let line: string;
    if (body === prefix || body.startsWith(`${prefix} `)) line = body.slice(prefix.length).trim();
    else if (isManagementRoom) line = body;
    else return false;

    const level = this.opts.permissions.levelOf(ev.sender);
    // A platform user's "!cb …" is an ordinary message: relayed, neither run nor refused.
    if (!level && this.opts.permissions.isGhost(ev.sender)) return false;
    if (!level) {
      await this.refuseOnce(ev.room_id, ev.sender);
      return true;
    }
    const [name = "help", ...args] = line.split(/\s+/).filter(Boolean);
    const rest = line.slice(line.indexOf(name) + name.length).trim();
    let replies = 0;
    const ctx: CommandContext = {
      roomId: ev.room_id,
      sender: ev.sender,
      level,
      args,
      rest,
      isManagementRoom,
      event: ev,
      reply: (text, html) => this.reply(ev.room_id, text, html, txnIdFor("cmd", ev.event_id, replies++)),
    };
    const command = this.commands.get(name.toLowerCase());
    if (!command) {
      await ctx.reply(
        `Unknown command \`${quoteCommandWord(name)}\`. Write \`${isManagementRoom ? "" : `${prefix} `}help\` for the list.`,
      );
      return true;
    }
    if (!this.opts.permissions.allows(ev.sender, command.level)) {
      await ctx.reply(
        `\`${command.name}\` needs the bridge permission level '${command.level}'; yours is '${level}'.`,
      );
      return true;
    }
    try {
      await command.run(ctx);
    } catch (err) {
      log.error("command failed", { command: command.name, room: ev.room_id, err });
      await ctx.reply(`\`${command.name}\` failed: ${(err as Error).message}`);
    }
    return true;
  }

  /**
   * Runs command `name` for `sender` as if they had typed it in `roomId` (the web API): the same
   * permission check and the same command. Its replies are collected (later ones too, from work
   * it left running) and, with `postInRoom`, also posted in the room as they would be.
   */
  /** Whether `sender` has the level command `name` needs (the web API asks before acting as it). */
  mayRun(name: string, sender: string): boolean {
    const command = this.commands.get(name);
    return command !== undefined && this.opts.permissions.allows(sender, command.level);
  }

  async runAs(
    name: string,
    opts: { roomId: string; sender: string; args: string[]; postInRoom: boolean },
  ): Promise<{ ran: boolean; replies: string[] }> {
    const replies: string[] = [];
    const command = this.commands.get(name);
    const level = this.opts.permissions.levelOf(opts.sender);
    if (!command || !level || !this.opts.permissions.allows(opts.sender, command.level)) {
      return {
        ran: false,
        replies: [`\`${name}\` needs the bridge permission level '${command?.level ?? "admin"}'.`],
      };
    }
    const eventId = `$web-${randomBytes(12).toString("hex")}`;
    const line = [name, ...opts.args].join(" ");
    const ev: RoomEvent = {
      event_id: eventId,
      type: "m.room.message",
      sender: opts.sender,
      room_id: opts.roomId,
      content: { msgtype: "m.text", body: line },
      origin_server_ts: Date.now(),
    };
    let n = 0;
    let first: () => void = () => undefined;
    const answered = new Promise<void>((resolve) => {
      first = resolve;
    });
    const ctx: CommandContext = {
      roomId: opts.roomId,
      sender: opts.sender,
      level,
      args: opts.args,
      rest: opts.args.join(" "),
      isManagementRoom: false,
      event: ev,
      reply: async (text, html) => {
        replies.push(text);
        first();
        // The room hears it as from a typed command; the caller has the text either way.
        if (opts.postInRoom)
          await this.reply(opts.roomId, text, html, txnIdFor("web", eventId, n++)).catch((err: unknown) =>
            log.warn("reply to a web action not posted", { room: opts.roomId, err: String(err) }),
          );
      },
    };
    await command.run(ctx);
    // A command that answers from work it left running (a link that asks the chat) answers soon.
    if (!replies.length) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([answered, new Promise((r) => (timer = setTimeout(r, FIRST_REPLY_WAIT_MS)))]);
      clearTimeout(timer);
    }
    return { ran: true, replies: [...replies] };
  }

  async reply(roomId: string, text: string, html: string | undefined, txnId: string): Promise<void> {
    const content: Record<string, unknown> = { msgtype: "m.notice", body: text };
    if (html) {
      content.format = "org.matrix.custom.html";
      content.formatted_body = html;
    }
    await this.opts.bot.sendEvent(roomId, "m.room.message", content, txnId);
  }

  /** The Matrix user whose management room this is, if any (cached). */
  async managementRoomOwner(roomId: string): Promise<string | undefined> {
    if (this.managementRooms.has(roomId)) return this.managementRooms.get(roomId) ?? undefined;
    const user = await this.opts.store.getUserByManagementRoom(roomId);
    this.managementRooms.set(roomId, user?.mxid ?? null);
    return user?.mxid;
  }

  private async refuseOnce(roomId: string, mxid: string): Promise<boolean> {
    const { store } = this.opts;
    const user = (await store.getUser(mxid)) ?? { mxid };
    if (user.refusedAt) return false;
    await store.upsertUser({ ...user, refusedAt: new Date() });
    await this.reply(roomId, REFUSAL, undefined, txnIdFor("refuse", roomId, mxid));
    log.info("refused a user without permission", { mxid });
    return true;
  }

  private async botMembership(ev: RoomEvent): Promise<void> {
    const { bot, store, permissions, config } = this.opts;
    const membership = ev.content.membership;
    if (membership === "leave" || membership === "ban") {
      const owner = await this.managementRoomOwner(ev.room_id);
      if (owner) {
        const user = await store.getUser(owner);
        if (user) await store.upsertUser({ ...user, managementRoom: undefined });
        this.managementRooms.delete(ev.room_id);
      }
      return;
    }
    if (membership !== "invite") return;
    if (remoteIdFromGhost(config, ev.sender)) {
      // A ghost brings the bot into a direct chat a user started by inviting it (GhostInvites).
      await bot.join(ev.room_id);
      return;
    }
    if (!permissions.levelOf(ev.sender)) {
      const user = await store.getUser(ev.sender);
      if (user?.refusedAt) {
        await bot.leave(ev.room_id).catch(() => undefined);
        return;
      }
      await bot.join(ev.room_id);
      await this.refuseOnce(ev.room_id, ev.sender);
      await bot.leave(ev.room_id);
      return;
    }
    await bot.join(ev.room_id);
    const user = (await store.getUser(ev.sender)) ?? { mxid: ev.sender };
    // Only a DM (the invite says is_direct) becomes a management room: a room made for
    // something else, even if just two are in it yet, must not turn every message into a command.
    const isDm = ev.content.is_direct === true;
    const prefix = config.bridge.command_prefix;
    if (isDm) {
      await store.upsertUser({ ...user, managementRoom: ev.room_id });
      this.managementRooms.set(ev.room_id, ev.sender);
      if (user.managementRoom && user.managementRoom !== ev.room_id)
        this.managementRooms.delete(user.managementRoom);
      await this.reply(
        ev.room_id,
        "Hello! This is your management room for the bridge. Write `help` to see what I can do.",
        undefined,
        txnIdFor("welcome", ev.event_id),
      );
    } else {
      await this.reply(
        ev.room_id,
        `Hello! Write \`${prefix} help\` to see what I can do here.`,
        undefined,
        txnIdFor("welcome", ev.event_id),
      );
    }
  }
}

import { portalAlias } from "../config/Config";
import type { BridgeConfig } from "../config/types";
import { Logger } from "../log/Logger";
import { type Intent, type MatrixApi, MatrixError } from "../matrix/MatrixApi";
import type { Store } from "../store/Store";
import type { Portal } from "../store/types";
import { AskAgain } from "./AskAgain";
import { BoundedMap } from "./Bounded";
import { bridgeInfoInitialState, writeBridgeInfo } from "./bridgeInfo";
import type { ChatInfo, LoginRef, NetworkClient, RemoteChatRef } from "./connector";
import { platformSaidNo } from "./errors";
import type { GhostService } from "./GhostService";
import { uploadMedia } from "./media";

const log = new Logger("PortalService");

/**
 * Most members of `ChatInfo.members` joined as ghosts when a portal is created. Creation runs in
 * the chat's serial lane, so its first message waits for these joins (a few requests each):
 * 100 keep that wait to seconds even for a large channel; the others join when they speak.
 */
export const MAX_INITIAL_MEMBERS = 100;

/** The portal key of a remote chat: a thread bridged as its own room is `<chat>/<thread>`. */
export function chatKey(chat: RemoteChatRef): string {
  return chat.threadId ? `${chat.id}/${chat.threadId}` : chat.id;
}

/**
 * The map of remote chats to Matrix rooms (many chats may share one room), with rooms
 * created on the first remote message and their name, topic and avatar kept in step.
 */
export class PortalService {
  private readonly byKey = new BoundedMap<string, Portal>(20_000);
  private readonly byRoom = new BoundedMap<string, Portal[]>(20_000);
  /** Portals created without their chat's details (lookup refused): when to ask again. */
  private readonly detailsPending = new AskAgain<string>();
  /** Chats known to be unlinked (from the store, or unlinked here), by key. */
  private readonly unlinked = new Set<string>();
  /** Spaces being looked up or made, by kind and key. */
  private readonly spaces = new Map<string, Promise<string>>();
  /** Portals being made, by key: one made from Matrix (`pm`) while the chat's first message makes it too. */
  private readonly creating = new Map<string, Promise<Portal | undefined>>();

  constructor(
    private readonly opts: {
      config: BridgeConfig;
      api: MatrixApi;
      store: Store;
      bot: Intent;
      /** Joins the chat's members to a new portal; without it, ghosts join when they speak. */
      ghosts?: GhostService;
      /**
       * A portal's room was just made, before its first message goes in (the AI joins here).
       * Best effort: a failure is logged and the message bridged all the same.
       */
      onCreated?(portal: Portal, login: LoginRef, client: NetworkClient): Promise<void>;
      /**
       * A portal is about to be made for the chat (before its room): what must survive a crash
       * between making the room and bridging into it is stored here (a backfill that is due).
       */
      beforeCreate?(platform: string, chatId: string, client: NetworkClient): Promise<void>;
    },
  ) {}

  async get(platform: string, chatId: string): Promise<Portal | undefined> {
    const k = `${platform}\u0000${chatId}`;
    const cached = this.byKey.get(k);
    if (cached) return cached;
    const portal = await this.opts.store.getPortal(platform, chatId);
    if (portal) this.byKey.set(k, portal);
    return portal;
  }

  /** Portals bridged into a room; usually one, several when chats of many platforms share it. */
  async forRoom(roomId: string): Promise<Portal[]> {
    const cached = this.byRoom.get(roomId);
    if (cached) return cached;
    const portals = await this.opts.store.getPortalsByRoom(roomId);
    this.byRoom.set(roomId, portals);
    return portals;
  }

  async save(portal: Portal): Promise<void> {
    await this.opts.store.upsertPortal(portal);
    this.invalidate(portal.platform, portal.chatId, portal.roomId);
  }

  /** Moves a portal to another room (its room was upgraded); returns it as moved. */
  async move(portal: Portal, roomId: string): Promise<Portal> {
    const moved = { ...portal, roomId };
    await this.save(moved);
    this.invalidate(portal.platform, portal.chatId, portal.roomId);
    return moved;
  }

  /**
   * Unlinks a portal (`unlink`): the chat's later messages are dropped, and no portal is made
   * for it, until it is linked again ({@link link}). The room stays as it is, without the
   * chat's bridge info.
   */
  async unlink(portal: Portal, by: string): Promise<void> {
    await this.opts.store.unlinkPortal(portal, by);
    this.unlinked.add(`${portal.platform}\u0000${portal.chatId}`);
    this.invalidate(portal.platform, portal.chatId, portal.roomId);
    await this.bridgeInfo(portal, false);
  }

  /**
   * Saves a portal made by `link` and lifts an unlink of its chat (also under `sameChatIds`,
   * the other keys of that chat). Saved first: a crash in between leaves a portal, which wins.
   * Then sets the room's bridge info: false when the bot may not (see {@link writeBridgeInfo}).
   */
  async link(portal: Portal, sameChatIds: string[] = []): Promise<boolean> {
    await this.save(portal);
    const keys = [portal.chatId, ...sameChatIds];
    await this.opts.store.clearUnlinked(portal.platform, keys);
    for (const k of keys) this.unlinked.delete(`${portal.platform}\u0000${k}`);
    return this.bridgeInfo(portal, true);
  }

  /**
   * Sets the bridge info of `portal` in its room, with its name and the room's picture when the
   * picture is the chat's (`avatarUrl`), or removes it (`on` false). Best effort: the state is
   * for clients' display, and a failure must not undo a link.
   */
  async bridgeInfo(portal: Portal, on: boolean, avatarUrl?: string): Promise<boolean> {
    try {
      return await writeBridgeInfo(
        this.opts.bot,
        portal.roomId,
        portal,
        on ? { platform: portal.platform, chatId: portal.chatId, name: portal.name, avatarUrl } : undefined,
      );
    } catch (err) {
      log.warn("bridge info not written", {
        platform: portal.platform,
        chat: portal.chatId,
        room: portal.roomId,
        err: String(err),
      });
      return false;
    }
  }

  /** Whether the chat was unlinked and not linked again since. */
  async isUnlinked(platform: string, chatId: string): Promise<boolean> {
    const k = `${platform}\u0000${chatId}`;
    if (this.unlinked.has(k)) return true;
    if (!(await this.opts.store.isChatUnlinked(platform, chatId))) return false;
    this.unlinked.add(k);
    return true;
  }

  private invalidate(platform: string, chatId: string, roomId: string): void {
    this.byKey.delete(`${platform}\u0000${chatId}`);
    this.byRoom.delete(roomId);
  }

  /**
   * The portal for a chat, creating its room when there is none yet; undefined for a chat
   * someone unlinked (its messages are not bridged). Runs inside the chat's serial queue, so
   * two messages of one chat can never create two rooms; a caller outside it (`pm`) shares the
   * creation under way.
   */
  async ensure(
    platform: string,
    login: LoginRef,
    client: NetworkClient,
    chat: RemoteChatRef,
  ): Promise<Portal | undefined> {
    const key = chatKey(chat);
    const existing = await this.get(platform, key);
    if (existing) {
      if (this.detailsPending.due(`${platform}\u0000${key}`))
        await this.fillInDetails(existing, client, chat);
      return existing;
    }
    const k = `${platform}\u0000${key}`;
    const making = this.creating.get(k);
    if (making) return making;
    const made = this.create(platform, login, client, chat).finally(() => this.creating.delete(k));
    this.creating.set(k, made);
    return made;
  }

  private async create(
    platform: string,
    login: LoginRef,
    client: NetworkClient,
    chat: RemoteChatRef,
  ): Promise<Portal | undefined> {
    const key = chatKey(chat);
    if (await this.isUnlinked(platform, key)) {
      log.info("message of an unlinked chat not bridged", { platform, chat: key });
      return undefined;
    }
    const info = await this.lookUp(platform, client, chat);
    await this.opts.beforeCreate?.(platform, key, client);
    const roomId = await this.createRoom(platform, key, login, client, info);
    const portal: Portal = {
      platform,
      chatId: key,
      roomId,
      loginId: login.id,
      kind: info.kind,
      name: info.name,
      topic: info.topic,
      avatarKey: info.avatar?.key,
      linked: false,
    };
    await this.save(portal);
    log.info("portal created", { platform, chat: key, roomId });
    await this.addToSpaces(platform, login, client, info, roomId).catch((err: unknown) =>
      log.warn("portal not added to its space", { platform, chat: key, err: String(err) }),
    );
    await this.joinMembers(portal, client, info.members ?? []);
    await this.opts
      .onCreated?.(portal, login, client)
      .catch((err: unknown) =>
        log.warn("after-creation step of a portal failed", { platform, chat: key, err: String(err) }),
      );
    return portal;
  }

  /**
   * The chat's details for a new portal. When the platform refuses the lookup (a 4xx: no
   * access to the chat's info, a chat it will not describe) the message is still bridged, into
   * a room named after the chat's id, and the details are asked for again later; any other
   * failure (unreachable, not connected yet) fails the message, which is retried.
   */
  private async lookUp(platform: string, client: NetworkClient, chat: RemoteChatRef): Promise<ChatInfo> {
    try {
      return await client.chatInfo(chat);
    } catch (err) {
      if (!platformSaidNo(err)) throw err;
      const key = chatKey(chat);
      log.warn("chat lookup refused: bridging with the chat id as its name, details later", {
        platform,
        chat: key,
        err: String(err),
      });
      this.detailsPending.refused(`${platform}\u0000${key}`);
      return { kind: "group", name: chat.id };
    }
  }

  /** Asks again for the details of a portal created without them; applies them once given. */
  private async fillInDetails(portal: Portal, client: NetworkClient, chat: RemoteChatRef): Promise<void> {
    const k = `${portal.platform}\u0000${portal.chatId}`;
    try {
      const info = await client.chatInfo(chat);
      this.detailsPending.answered(k);
      await this.applyChatInfo(portal, client, info);
      await this.joinMembers(portal, client, info.members ?? []);
      log.info("portal details filled in", { platform: portal.platform, chat: portal.chatId });
    } catch (err) {
      this.detailsPending.refused(k);
      log.debug("chat details still unavailable", {
        platform: portal.platform,
        chat: portal.chatId,
        err: String(err),
      });
    }
  }

  /**
   * Joins the chat's members (the first {@link MAX_INITIAL_MEMBERS}) as ghosts. One member that
   * cannot be joined is logged and skipped: it must not fail the message that made the portal.
   */
  private async joinMembers(
    portal: Portal,
    client: NetworkClient,
    members: ChatInfo["members"] & object,
  ): Promise<void> {
    const { ghosts } = this.opts;
    if (!ghosts || members.length === 0) return;
    const ctx = { platform: portal.platform, chat: portal.chatId };
    if (members.length > MAX_INITIAL_MEMBERS) {
      log.info("chat has more members than join at creation; the others join when they speak", {
        ...ctx,
        members: members.length,
        joined: MAX_INITIAL_MEMBERS,
      });
    }
    let joined = 0;
    for (const member of members.slice(0, MAX_INITIAL_MEMBERS)) {
      try {
        const intent = await ghosts.ensure(portal.platform, client, member, undefined, {
          profileRequired: true,
        });
        await ghosts.join(intent, portal.roomId);
        joined++;
      } catch (err) {
        log.warn("member not joined to the new portal", { ...ctx, member: member.id, err: String(err) });
      }
    }
    log.info("members joined to the new portal", { ...ctx, joined });
  }

  /**
   * Puts a new portal in its spaces: the space of its platform group (a Discord server), and the
   * login's personal space (`bridge.personal_spaces`), which holds the group's space instead of
   * its rooms. Each space is made once, with the login's owner invited and admin.
   */
  private async addToSpaces(
    platform: string,
    login: LoginRef,
    client: NetworkClient,
    info: ChatInfo,
    roomId: string,
  ): Promise<void> {
    const { config } = this.opts;
    let child = roomId;
    if (info.space) {
      const group = info.space;
      child = await this.space("core.space", `${platform}:${group.id}`, login, async () => ({
        name: group.name,
        avatar:
          group.avatar && (await uploadMedia(this.opts.bot, client, group.avatar).catch(() => undefined)),
      }));
      await this.addChild(child, roomId);
    }
    if (!config.bridge.personal_spaces) return;
    const personal = await this.space("core.login-space", login.id, login, async () => ({
      name: `${platform[0].toUpperCase()}${platform.slice(1)}${login.remoteId ? ` (${login.remoteId})` : ""}`,
      topic: `Your ${platform} chats, bridged by ${this.opts.bot.userId}`,
    }));
    await this.addChild(personal, child);
  }

  /**
   * The space stored under `key`, made on first use; portals of several chats made at once
   * share the one made first.
   */
  private space(
    ns: string,
    key: string,
    login: LoginRef,
    describe: () => Promise<{ name: string; topic?: string; avatar?: string }>,
  ): Promise<string> {
    const k = `${ns}\u0000${key}`;
    const making = this.spaces.get(k) ?? this.makeSpace(ns, key, login, describe);
    this.spaces.set(k, making);
    return making.finally(() => this.spaces.delete(k));
  }

  private async makeSpace(
    ns: string,
    key: string,
    login: LoginRef,
    describe: () => Promise<{ name: string; topic?: string; avatar?: string }>,
  ): Promise<string> {
    const { store, bot } = this.opts;
    const known = await store.kvGet(ns, key);
    if (known) return known;
    const { name, topic, avatar } = await describe();
    const spaceId = await bot.createRoom({
      name,
      topic,
      invite: [login.ownerMxid],
      creationContent: { type: "m.space" },
      initialState: avatar ? [{ type: "m.room.avatar", state_key: "", content: { url: avatar } }] : [],
      powerLevels: { users: { [login.ownerMxid]: 100 } },
    });
    await store.kvSet(ns, key, spaceId);
    log.info("space created", { kind: ns, key, roomId: spaceId });
    return spaceId;
  }

  /** Links `child` into `spaceId`, and the child names the space as its canonical parent. */
  private async addChild(spaceId: string, child: string): Promise<void> {
    const via = [this.opts.config.homeserver.domain];
    await this.opts.bot.sendState(spaceId, "m.space.child", child, { via });
    await this.opts.bot.sendState(child, "m.space.parent", spaceId, { via, canonical: true });
  }

  private async createRoom(
    platform: string,
    key: string,
    login: LoginRef,
    client: NetworkClient,
    info: ChatInfo,
  ): Promise<string> {
    const { config, bot } = this.opts;
    const alias = portalAlias(config, platform, key);
    const aliasLocalpart = alias.slice(1, alias.lastIndexOf(":"));
    const initialState: Array<{ type: string; state_key: string; content: Record<string, unknown> }> = [];
    let avatarUrl: string | undefined;
    if (info.avatar) {
      try {
        avatarUrl = await uploadMedia(bot, client, info.avatar);
        initialState.push({ type: "m.room.avatar", state_key: "", content: { url: avatarUrl } });
      } catch (err) {
        log.warn("could not bring the chat's avatar over", { platform, chat: key, err: String(err) });
      }
    }
    initialState.push(
      ...bridgeInfoInitialState(bot.userId, { platform, chatId: key, name: info.name, avatarUrl }),
    );
    if (config.bridge.portal_join_rule === "public") {
      initialState.push({ type: "m.room.join_rules", state_key: "", content: { join_rule: "public" } });
    }
    if (config.encryption.default || config.encryption.require) {
      initialState.push({
        type: "m.room.encryption",
        state_key: "",
        content: { algorithm: "m.megolm.v1.aes-sha2" },
      });
    }
    try {
      return await bot.createRoom({
        name: info.kind === "dm" ? undefined : info.name,
        topic: info.topic,
        alias: aliasLocalpart,
        invite: [login.ownerMxid],
        isDirect: info.kind === "dm",
        initialState,
        // The bot creates the room, so it has full power in every room version (room v12 even
        // forbids listing the creator); the login's owner gets admin to moderate the portal.
        powerLevels: { users: { [login.ownerMxid]: 100 } },
      });
    } catch (err) {
      // A room made just before a crash keeps its alias: adopt it instead of failing forever.
      if (err instanceof MatrixError && err.errcode === "M_ROOM_IN_USE") {
        const res = await this.opts.api.request<{ room_id: string }>(
          "GET",
          `/_matrix/client/v3/directory/room/${encodeURIComponent(alias)}`,
        );
        log.info("adopting the existing room of the portal alias", { alias, roomId: res.room_id });
        return res.room_id;
      }
      throw err;
    }
  }

  /** The room's picture, when it is the chat's (the portal has one): for the bridge info. */
  private async roomAvatar(portal: Portal): Promise<string | undefined> {
    if (!portal.avatarKey) return undefined;
    const content = await this.opts.bot
      .getState<{ url?: unknown }>(portal.roomId, "m.room.avatar")
      .catch(() => undefined);
    return typeof content?.url === "string" && content.url.startsWith("mxc://") ? content.url : undefined;
  }

  /** Applies a change of the chat's name, topic or avatar (or its removal) to the room. */
  async applyChatInfo(
    portal: Portal,
    client: NetworkClient,
    changed: Partial<ChatInfo>,
    avatarRemoved = false,
  ): Promise<void> {
    const info = avatarRemoved ? { ...changed, avatar: undefined } : changed;
    const { bot } = this.opts;
    let infoChanged = false;
    if (info.name !== undefined && info.name !== portal.name) {
      await bot.sendState(portal.roomId, "m.room.name", "", { name: info.name });
      portal.name = info.name;
      infoChanged = true;
    }
    if (info.topic !== undefined && info.topic !== portal.topic) {
      await bot.sendState(portal.roomId, "m.room.topic", "", { topic: info.topic });
      portal.topic = info.topic;
    }
    if ((info.avatar !== undefined || avatarRemoved) && info.avatar?.key !== portal.avatarKey) {
      const url = info.avatar ? await uploadMedia(bot, client, info.avatar) : "";
      await bot.sendState(portal.roomId, "m.room.avatar", "", url ? { url } : {});
      portal.avatarKey = info.avatar?.key;
      infoChanged = true;
    }
    await this.save(portal);
    // The bridge info names the chat and shows its picture: kept in step.
    if (infoChanged) await this.bridgeInfo(portal, true, await this.roomAvatar(portal));
  }
}

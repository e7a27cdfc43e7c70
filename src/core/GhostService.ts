import { ghostUserId, remoteIdFromGhost } from "../config/Config";
import type { BridgeConfig } from "../config/types";
import { Logger } from "../log/Logger";
import { type Intent, type MatrixApi, MatrixError } from "../matrix/MatrixApi";
import type { Store } from "../store/Store";
import type { Ghost } from "../store/types";
import { AskAgain } from "./AskAgain";
import { BoundedMap, BoundedSet } from "./Bounded";
import type { NetworkClient, RemoteUserRef, UserInfo } from "./connector";
import { platformSaidNo } from "./errors";
import { ghostDisplayName, nameKey } from "./ghostName";
import { uploadMedia } from "./media";

const log = new Logger("GhostService");

/**
 * Remote users as Matrix users of the appservice: registered on first sight, with name and
 * avatar kept in step with the platform, and joined to the portal rooms they talk in.
 * Known ghosts and memberships are cached so the hot path does no extra requests.
 */
export class GhostService {
  private readonly ghosts = new BoundedMap<string, Ghost>(50_000);
  private readonly joined = new BoundedSet<string>(100_000);
  /** Ghosts registered without their profile (lookup refused): when to ask again. */
  private readonly profilePending = new AskAgain<string>();

  constructor(
    private readonly opts: {
      config: BridgeConfig;
      api: MatrixApi;
      store: Store;
      bot: Intent;
    },
  ) {}

  intentOf(mxid: string): Intent {
    return this.opts.api.intent(mxid);
  }

  /** Whether `mxid` is a ghost of `platform` (any platform when omitted). */
  isGhost(mxid: string, platform?: string): boolean {
    const parsed = remoteIdFromGhost(this.opts.config, mxid);
    return parsed !== undefined && (platform === undefined || parsed.platform === platform);
  }

  /** The remote user id behind a ghost's MXID. */
  remoteIdOf(mxid: string): string | undefined {
    return remoteIdFromGhost(this.opts.config, mxid)?.remoteId;
  }

  mxidFor(platform: string, remoteId: string): string {
    return ghostUserId(this.opts.config, platform, remoteId);
  }

  /**
   * The name a ghost shows: the platform name through `bridge.displayname_template`, cleaned,
   * and never one that reads like the bridge bot or the AI puppet (names or ids).
   */
  displayNameFor(
    platform: string,
    remoteId: string,
    raw: string | undefined,
    reserved: string[] = [],
  ): string {
    const { config } = this.opts;
    const domain = config.homeserver.domain;
    return ghostDisplayName({
      template: config.bridge.displayname_template,
      displayName: raw,
      platform,
      remoteId,
      reserved: [
        config.bridge.bot.displayname,
        config.ai.displayname,
        `@${config.bridge.bot.localpart}:${domain}`,
        `@${config.ai.localpart}:${domain}`,
        ...reserved,
      ],
    });
  }

  /** `info` with the display name the ghost shows (an empty name means "unchanged" and stays). */
  private named(platform: string, user: RemoteUserRef, info: UserInfo): UserInfo {
    return info.displayName
      ? { ...info, displayName: this.displayNameFor(platform, user.id, info.displayName) }
      : info;
  }

  /**
   * Returns the ghost's intent, registering the user and syncing its profile when new or
   * when `info` (sent along with the event by the platform) differs from what is stored.
   */
  async ensure(
    platform: string,
    client: NetworkClient,
    user: RemoteUserRef,
    info?: UserInfo,
    /** A user the bridge only wants if the platform describes them (a chat's member list). */
    opts: { profileRequired?: boolean } = {},
  ): Promise<Intent> {
    const mxid = this.mxidFor(platform, user.id);
    const intent = this.opts.api.intent(mxid);
    let ghost = this.ghosts.get(mxid) ?? (await this.opts.store.getGhost(mxid));
    if (!ghost) ghost = { mxid, platform, remoteId: user.id, registered: false };
    if (!ghost.registered) {
      await intent.ensureRegistered();
      ghost.registered = true;
      // Events carry a name at most; a new ghost gets the whole profile (avatar included) once.
      const full = opts.profileRequired
        ? await client.userInfo(user)
        : await this.lookUp(platform, client, user, mxid);
      await this.syncProfile(intent, ghost, client, {
        ...full,
        displayName: info?.displayName || full.displayName || user.id,
      });
      await this.opts.store.upsertGhost(ghost);
    } else if (this.profilePending.due(mxid)) {
      await this.fillInProfile(platform, client, user, intent, ghost, info);
    } else if (
      info &&
      (this.named(platform, user, info).displayName !== ghost.displayName ||
        (info.avatar !== undefined && info.avatar.key !== ghost.avatarKey) ||
        (info.avatarRemoved === true && ghost.avatarKey !== undefined))
    ) {
      // An event without an avatar says nothing about it (unless it says the avatar was
      // removed): keep the one the ghost has.
      await this.syncProfile(intent, ghost, client, info, !info.avatar && info.avatarRemoved !== true);
      await this.opts.store.upsertGhost(ghost);
    }
    this.ghosts.set(mxid, ghost);
    return intent;
  }

  /**
   * A new ghost's profile. When the platform refuses the lookup (a 4xx) the message still goes
   * through, from a ghost named after the user's id (or the name the event carried), and the
   * profile is asked for again later; any other failure (unreachable, not connected yet) fails
   * the message, which is retried.
   */
  private async lookUp(
    platform: string,
    client: NetworkClient,
    user: RemoteUserRef,
    mxid: string,
  ): Promise<UserInfo> {
    try {
      return await client.userInfo(user);
    } catch (err) {
      if (!platformSaidNo(err)) throw err;
      log.warn("user lookup refused: bridging with the user id as the name, profile later", {
        platform,
        user: user.id,
        err: String(err),
      });
      this.profilePending.refused(mxid);
      return { displayName: user.id };
    }
  }

  private async fillInProfile(
    platform: string,
    client: NetworkClient,
    user: RemoteUserRef,
    intent: Intent,
    ghost: Ghost,
    info: UserInfo | undefined,
  ): Promise<void> {
    try {
      const full = await client.userInfo(user);
      this.profilePending.answered(ghost.mxid);
      await this.syncProfile(intent, ghost, client, {
        ...full,
        displayName: info?.displayName || full.displayName,
      });
      await this.opts.store.upsertGhost(ghost);
    } catch (err) {
      this.profilePending.refused(ghost.mxid);
      log.debug("user profile still unavailable", { platform, user: user.id, err: String(err) });
    }
  }

  /**
   * Applies a profile the platform reported on its own (no event in a chat) to the user's
   * ghost. False when the bridge has no ghost for that user yet: it is not made for this.
   */
  async updateKnown(
    platform: string,
    client: NetworkClient,
    user: RemoteUserRef,
    info: UserInfo,
  ): Promise<boolean> {
    const mxid = this.mxidFor(platform, user.id);
    const ghost = this.ghosts.get(mxid) ?? (await this.opts.store.getGhost(mxid));
    if (!ghost?.registered) return false;
    await this.ensure(platform, client, user, info);
    return true;
  }

  private async syncProfile(
    intent: Intent,
    ghost: Ghost,
    client: NetworkClient,
    info: UserInfo,
    keepAvatar = false,
  ): Promise<void> {
    // The platform's name, as the ghost shows it (templated and cleaned).
    const name = info.displayName
      ? this.displayNameFor(ghost.platform, ghost.remoteId, info.displayName)
      : undefined;
    if (name && name !== ghost.displayName) {
      await intent.setDisplayName(name);
      ghost.displayName = name;
    }
    if (keepAvatar) return;
    const avatarKey = info.avatar?.key;
    if (avatarKey !== ghost.avatarKey) {
      if (info.avatar) {
        try {
          const mxc = await uploadMedia(intent, client, info.avatar);
          await intent.setAvatarUrl(mxc);
          ghost.avatarMxc = mxc;
        } catch (err) {
          // A missing avatar must not hold up the message; it is tried again on the next change.
          log.warn("could not set ghost avatar", { mxid: ghost.mxid, err: String(err) });
          return;
        }
      } else if (ghost.avatarMxc) {
        await intent.setAvatarUrl("");
        ghost.avatarMxc = undefined;
      }
      ghost.avatarKey = avatarKey;
    }
  }

  /** Makes sure the ghost is in the room: the bot invites, the ghost joins. */
  async join(intent: Intent, roomId: string): Promise<void> {
    const key = `${intent.userId}|${roomId}`;
    if (this.joined.has(key)) return;
    if (await this.opts.store.isGhostInRoom(intent.userId, roomId)) {
      this.joined.add(key);
      return;
    }
    try {
      await this.opts.bot.invite(roomId, intent.userId);
    } catch (err) {
      // Already invited or joined is fine; anything else shows up when the ghost joins.
      if (!(err instanceof MatrixError && err.status === 403)) throw err;
    }
    await intent.join(roomId);
    await this.opts.store.setGhostInRoom(intent.userId, roomId, true);
    this.joined.add(key);
    await this.disambiguate(intent, roomId).catch((err: unknown) =>
      log.warn("could not check the ghost's name in the room", {
        mxid: intent.userId,
        room: roomId,
        err: String(err),
      }),
    );
  }

  /**
   * A ghost whose name reads like another member of the room (a Matrix user called the same)
   * gets its id added to its name in that room.
   */
  private async disambiguate(intent: Intent, roomId: string): Promise<void> {
    const ghost = this.ghosts.get(intent.userId);
    if (!ghost?.displayName) return;
    const members = await this.opts.bot.joinedMembers(roomId);
    const others: string[] = [];
    for (const [mxid, m] of Object.entries(members)) {
      if (mxid === intent.userId) continue;
      others.push(mxid);
      if (m.display_name) others.push(m.display_name);
    }
    const key = nameKey(ghost.displayName);
    if (!others.some((o) => nameKey(o) === key)) return;
    const name = ghostDisplayName({
      template: "{displayname}",
      displayName: ghost.displayName,
      platform: ghost.platform,
      remoteId: ghost.remoteId,
      reserved: others,
    });
    const content: Record<string, unknown> = { membership: "join", displayname: name };
    if (ghost.avatarMxc) content.avatar_url = ghost.avatarMxc;
    await intent.sendState(roomId, "m.room.member", intent.userId, content);
  }

  /** Drops what is cached about a ghost whose rows were erased (it is made anew if it speaks again). */
  forgetCached(mxid: string): void {
    this.ghosts.delete(mxid);
    for (const k of this.joined) if (k.startsWith(`${mxid}|`)) this.joined.delete(k);
  }

  /** Records that the ghost left (or was removed from) the room. */
  async forgetMembership(mxid: string, roomId: string): Promise<void> {
    this.joined.delete(`${mxid}|${roomId}`);
    await this.opts.store.setGhostInRoom(mxid, roomId, false);
  }
}

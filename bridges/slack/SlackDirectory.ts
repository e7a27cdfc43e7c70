/**
 * Who is who in one workspace: the bridge's own bot (learned with auth.test at connect), Slack
 * users (users.info, cached and bounded; a user_change event replaces a cached profile) and
 * channels (conversations.info, with the member list where the app may read it).
 */
import type { webApi } from "@slack/bolt";
import type { ChatInfo, UserInfo } from "../../src/core/connector";
import type { Logger } from "../../src/log/Logger";
import { describe, slack } from "./errors";
import { remoteUserId } from "./inbound";

type Obj = Record<string, unknown>;

const MAX_USERS = 5000;

/** The bridge's own identity in a workspace. */
export interface BotSelf {
  team: string;
  /** The bot user; its events are echoes and its profile is a bot's. */
  userId: string;
  botId: string;
  /** chat:write.customize granted: messages may carry the Matrix sender's name and picture. */
  customize: boolean;
}

export class SlackDirectory {
  /** Set once connected. */
  me?: BotSelf;
  private readonly users = new Map<string, UserInfo>();

  constructor(
    private readonly web: webApi.WebClient,
    private readonly log: Logger,
    /** The team id known before connecting (the login's remote id). */
    private readonly knownTeam: string | undefined,
  ) {}

  /** The team id once connected (the login's remote id before). */
  get team(): string | undefined {
    return this.me?.team ?? this.knownTeam;
  }

  /** A profile already looked up. */
  cached(user: string): UserInfo | undefined {
    return this.users.get(user);
  }

  /** Takes a user object Slack sent (user_change) as the user's profile; undefined without an id. */
  learn(u: Obj): { user: string; info: UserInfo } | undefined {
    if (typeof u.id !== "string") return undefined;
    const info = profileOf(u);
    if (u.id === this.me?.userId) info.isBot = true;
    this.users.set(u.id, info);
    return { user: u.id, info };
  }

  /** users.info, cached; a user_change event replaces the cached profile. */
  async profile(user: string): Promise<UserInfo> {
    const cached = this.users.get(user);
    if (cached) return cached;
    const res = (await slack(() => this.web.users.info({ user }))) as { user?: Obj };
    if (!res.user) throw new Error(`users.info returned no user for ${user}`);
    const info = profileOf(res.user);
    if (user === this.me?.userId) info.isBot = true;
    if (this.users.size > MAX_USERS) this.users.delete(this.users.keys().next().value!);
    this.users.set(user, info);
    return info;
  }

  /** A channel of this workspace as the core sees a chat; throws when Slack does not know it here. */
  async chatInfo(channel: string): Promise<ChatInfo> {
    const res = (await slack(() => this.web.conversations.info({ channel }))) as { channel?: Obj };
    const c = res.channel ?? {};
    const kind = c.is_im ? "dm" : "group";
    const info: ChatInfo = { kind };
    if (c.is_im && typeof c.user === "string") {
      info.name = (await this.profile(c.user).catch(() => undefined))?.displayName;
      info.members = [{ id: remoteUserId(this.team!, c.user) }];
      return info;
    }
    info.name = typeof c.name === "string" ? c.name : channel;
    const topic =
      ((c.topic as Obj | undefined)?.value as string | undefined) ||
      ((c.purpose as Obj | undefined)?.value as string | undefined);
    if (topic) info.topic = topic;
    try {
      const m = (await slack(() => this.web.conversations.members({ channel, limit: 200 }))) as {
        members?: string[];
      };
      const others = (m.members ?? []).filter((u) => u !== this.me?.userId);
      info.members = others.map((u) => ({ id: remoteUserId(this.team!, u) }));
      if (c.is_mpim) {
        // Group DMs are named "mpdm-a--b--c-1" on Slack; people's names read better.
        const names = await Promise.all(
          others.map((u) =>
            this.profile(u).then(
              (p) => p.displayName,
              () => u,
            ),
          ),
        );
        info.name = names.join(", ");
      }
    } catch (err) {
      this.log.debug("slack: no member list", { channel, err: describe(err) });
    }
    return info;
  }
}

function profileOf(u: Obj): UserInfo {
  const p = (u.profile ?? {}) as Obj;
  const name =
    [p.display_name, p.real_name, u.real_name, u.name].find(
      (x): x is string => typeof x === "string" && x !== "",
    ) ?? String(u.id);
  const info: UserInfo = { displayName: name };
  const image = [p.image_512, p.image_192, p.image_72].find(
    (x): x is string => typeof x === "string" && x !== "",
  );
  if (image)
    info.avatar = {
      key: image,
      mimetype: /\.jpe?g/.test(image) ? "image/jpeg" : "image/png",
      name: "avatar",
    };
  if (u.is_bot === true) info.isBot = true;
  return info;
}

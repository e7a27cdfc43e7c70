/**
 * The state of one Slack workspace in the stand-in: its app's tokens and scopes, users,
 * conversations, messages, reactions and files. Pure data and bookkeeping, no IO.
 */
import { randomBytes } from "node:crypto";

export type Obj = Record<string, unknown>;

export interface UserSpec {
  id: string;
  name: string;
  real_name?: string;
  display_name?: string;
  is_bot?: boolean;
  /** An avatar served by the stand-in at `/avatars/<team>/<id>.png` (these bytes). */
  avatar?: Buffer;
}

export interface ChannelSpec {
  id: string;
  name?: string;
  kind?: "channel" | "private" | "im" | "mpim";
  topic?: string;
  purpose?: string;
  members?: string[];
  /** For an IM: the other user. */
  user?: string;
}

export interface StoredMessage {
  channel: string;
  ts: string;
  text: string;
  user?: string;
  bot_id?: string;
  username?: string;
  icon_url?: string;
  thread_ts?: string;
  /** A thread reply also sent to the channel (`reply_broadcast`): in the channel's history too. */
  broadcast?: boolean;
  files?: Obj[];
  /** `metadata` given to chat.postMessage (`event_type`, `event_payload`). */
  metadata?: Obj;
  deleted?: boolean;
  reactions: Map<string, Set<string>>;
}

export interface StoredFile {
  id: string;
  name: string;
  title?: string;
  mimetype: string;
  data: Buffer;
  /** A video's thumbnail (JPEG) and its pixels, served at `thumb_video`. */
  thumbVideo?: { data: Buffer; w: number; h: number };
  /** Channel → ts of the message that shares it. */
  shares: Map<string, string>;
}

/** Options of a workspace; everything but the team id has a default. */
export interface WorkspaceSpec {
  team: string;
  name?: string;
  botUserId?: string;
  botId?: string;
  /** Scopes reported in `x-oauth-scopes`; default: all the bridge asks for. */
  scopes?: string[];
  /** Delivery: Socket Mode (the app opens a socket) or HTTP to `eventsUrl`, signed with `signingSecret`. */
  mode?: "socket" | "http";
}

export const ALL_SCOPES = [
  "channels:history",
  "channels:read",
  "channels:manage",
  "groups:history",
  "groups:read",
  "groups:write",
  "emoji:read",
  "im:history",
  "im:read",
  "mpim:history",
  "mpim:read",
  "chat:write",
  "chat:write.customize",
  "reactions:read",
  "reactions:write",
  "files:read",
  "files:write",
  "users:read",
];

/** One workspace: its tokens are generated here, per run. */
export class Workspace {
  readonly team: string;
  readonly name: string;
  readonly botUserId: string;
  readonly botId: string;
  readonly botToken: string;
  readonly appToken: string;
  readonly signingSecret: string;
  scopes: string[];
  mode: "socket" | "http";
  /** Where HTTP events go (the app's `/slack/events`). */
  eventsUrl?: string;
  readonly users = new Map<string, UserSpec>();
  readonly channels = new Map<string, Required<Pick<ChannelSpec, "id" | "kind">> & ChannelSpec>();
  readonly messages: StoredMessage[] = [];
  readonly files = new Map<string, StoredFile>();
  /** Custom emoji by name: a picture (served at `/emoji/<team>/<name>.png`) or `alias:<other name>`. */
  readonly emoji = new Map<string, Buffer | string>();
  private tsCounter = 0;
  private fileCounter = 0;

  constructor(spec: WorkspaceSpec) {
    this.team = spec.team;
    this.name = spec.name ?? `Workspace ${spec.team}`;
    this.botUserId = spec.botUserId ?? `U${spec.team.slice(1)}BOT`;
    this.botId = spec.botId ?? `B${spec.team.slice(1)}BOT`;
    const secret = (): string => randomBytes(18).toString("base64url");
    this.botToken = `xoxb-${spec.team}-${secret()}`;
    this.appToken = `xapp-1-${spec.team}-${secret()}`;
    this.signingSecret = randomBytes(16).toString("hex");
    this.scopes = spec.scopes ?? [...ALL_SCOPES];
    this.mode = spec.mode ?? "socket";
    this.users.set(this.botUserId, { id: this.botUserId, name: "bridge", real_name: "Bridge", is_bot: true });
  }

  /** A fresh message timestamp, increasing within the workspace like Slack's. */
  nextTs(): string {
    const now = Math.floor(Date.now() / 1000);
    return `${now}.${String(++this.tsCounter).padStart(6, "0")}`;
  }

  nextFileId(): string {
    return `F${this.team.slice(1)}${String(++this.fileCounter).padStart(4, "0")}`;
  }

  addUser(u: UserSpec): void {
    this.users.set(u.id, u);
  }

  addChannel(c: ChannelSpec): void {
    this.channels.set(c.id, { kind: "channel", members: [], ...c });
  }

  message(channel: string, ts: string): StoredMessage | undefined {
    return this.messages.find((m) => m.channel === channel && m.ts === ts);
  }

  store(m: Omit<StoredMessage, "reactions">): StoredMessage {
    const stored = { ...m, reactions: new Map<string, Set<string>>() };
    this.messages.push(stored);
    return stored;
  }

  /** `users.info` shape. */
  userObject(id: string, baseUrl: string): Obj | undefined {
    const u = this.users.get(id);
    if (!u) return undefined;
    const profile: Obj = {
      display_name: u.display_name ?? "",
      real_name: u.real_name ?? u.name,
    };
    if (u.avatar) {
      const url = `${baseUrl}/avatars/${this.team}/${u.id}.png`;
      profile.image_512 = url;
      profile.image_72 = url;
      profile.avatar_hash = `h${u.avatar.length}`;
    }
    return {
      id: u.id,
      team_id: this.team,
      name: u.name,
      real_name: u.real_name ?? u.name,
      is_bot: u.is_bot === true,
      deleted: false,
      profile,
    };
  }

  /** `conversations.info` shape. */
  channelObject(id: string): Obj | undefined {
    const c = this.channels.get(id);
    if (!c) return undefined;
    const o: Obj = {
      id: c.id,
      is_channel: c.kind === "channel",
      is_group: c.kind === "private",
      is_private: c.kind === "private" || c.kind === "mpim" || c.kind === "im",
      is_im: c.kind === "im",
      is_mpim: c.kind === "mpim",
      context_team_id: this.team,
    };
    if (c.kind !== "im") {
      o.name = c.name ?? c.id.toLowerCase();
      o.topic = { value: c.topic ?? "", creator: "", last_set: 0 };
      o.purpose = { value: c.purpose ?? "", creator: "", last_set: 0 };
    } else o.user = c.user;
    return o;
  }

  channelType(id: string): string {
    const kind = this.channels.get(id)?.kind ?? "channel";
    return kind === "private" ? "group" : kind;
  }
}

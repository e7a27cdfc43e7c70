import { SectionReader } from "../../src/config/SectionReader";
/**
 * The `platforms.slack` section: read, defaulted and validated. Errors name the key and say
 * how to fix it. One entry of `workspaces` is one Slack app installation (one login).
 */

/** One workspace's app credentials. */
export interface WorkspaceConfig {
  /** `bot_token`: the app's Bot User OAuth Token, `xoxb-…`. */
  botToken: string;
  /** `app_token`: an app-level token `xapp-…` with `connections:write`, for Socket Mode. */
  appToken?: string;
  /** `signing_secret`: for Events API over HTTP (instead of Socket Mode). */
  signingSecret?: string;
  /** `http_port` / `http_host`: where the HTTP receiver listens (HTTP mode). */
  httpPort: number;
  httpHost: string;
}

export interface SlackConfig {
  /** `owner`: the Matrix user who owns the configured workspace logins. */
  owner?: string;
  workspaces: WorkspaceConfig[];
  /** `api_url`: the Web API base (default https://slack.com/api/; a test stand-in). */
  apiUrl: string;
  /** `relay_template`: prefix of a relayed Matrix message when `chat:write.customize` is not granted. */
  relayTemplate: string;
  /** `max_file_bytes`: largest file bridged either way (default 100 MB). */
  maxFileBytes: number;
}

export const DEFAULT_RELAY_TEMPLATE = "*{displayname}*: {message}";

/** Whether `t` has the shape of a Slack bot token. */
export const isBotToken = (t: string): boolean => /^xoxb-[\w-]+$/.test(t);

/** Reads `platforms.<platform>` (the section itself is `c`); throws with the key path on a bad value. */
export function readSlackConfig(c: Record<string, unknown>, platform = "slack"): SlackConfig {
  const key = (k: string): string => `platforms.${platform}.${k}`;
  const section = new SectionReader(c, `platforms.${platform}`);
  /** An optional string: absent or empty is undefined. */
  const opt = (r: SectionReader, k: string): string | undefined => r.str(k) || undefined;

  // One workspace may be given at the top level, several under `workspaces`.
  let raw: unknown[] = [];
  if (c.workspaces !== undefined && c.workspaces !== null) {
    if (!Array.isArray(c.workspaces))
      throw new Error(`${key("workspaces")} must be a list of { bot_token, app_token | signing_secret }`);
    raw = c.workspaces;
  }
  if (c.bot_token !== undefined) raw = [c, ...raw];
  const workspaces = raw.map((w, i): WorkspaceConfig => {
    const top = c.bot_token !== undefined;
    const at = top && i === 0 ? `platforms.${platform}` : `${key("workspaces")}[${top ? i - 1 : i}]`;
    if (typeof w !== "object" || w === null) throw new Error(`${at} must be a map with bot_token`);
    const o = new SectionReader(w as Record<string, unknown>, at);
    const botToken = opt(o, "bot_token");
    if (!botToken) throw new Error(`${at}.bot_token is required (the app's Bot User OAuth Token, xoxb-…)`);
    if (!isBotToken(botToken))
      throw new Error(`${at}.bot_token does not look like a bot token (xoxb-…, under OAuth & Permissions)`);
    const appToken = opt(o, "app_token");
    if (appToken && !/^xapp-[\w-]+$/.test(appToken))
      throw new Error(
        `${at}.app_token does not look like an app-level token (xapp-…, under Basic Information)`,
      );
    const signingSecret = opt(o, "signing_secret");
    if (!appToken && !signingSecret)
      throw new Error(
        `${at}: give app_token (Socket Mode, recommended) or signing_secret (Events API over HTTP)`,
      );
    return {
      botToken,
      appToken,
      signingSecret: appToken ? undefined : signingSecret,
      httpPort: o.int("http_port", 3000, 0),
      httpHost: opt(o, "http_host") ?? "0.0.0.0",
    };
  });
  const tokens = new Set(workspaces.map((w) => w.botToken));
  if (tokens.size !== workspaces.length)
    throw new Error(`${key("workspaces")}: the same bot_token is listed twice`);

  const owner = opt(section, "owner");
  if (workspaces.length && !owner)
    throw new Error(`${key("owner")} is required with bot_token or workspaces`);
  if (owner !== undefined && !/^@[^:]+:.+$/.test(owner))
    throw new Error(`${key("owner")} must be a Matrix user id like @you:example.org`);
  let apiUrl = opt(section, "api_url") ?? "https://slack.com/api/";
  try {
    const u = new URL(apiUrl);
    if (u.protocol !== "https:" && u.protocol !== "http:") throw new Error("protocol");
  } catch {
    throw new Error(`${key("api_url")} must be an http(s) URL like https://slack.com/api/`);
  }
  if (!apiUrl.endsWith("/")) apiUrl += "/";
  return {
    owner,
    workspaces,
    apiUrl,
    relayTemplate: opt(section, "relay_template") ?? DEFAULT_RELAY_TEMPLATE,
    maxFileBytes: section.int("max_file_bytes", 100 * 1024 * 1024, 1),
  };
}

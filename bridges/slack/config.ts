import { ConfigError } from "../../src/config/ConfigError";
import {
  type ConnectorConfigSchema,
  HTTP_URL,
  int,
  MXID,
  type SchemaNode,
  str,
} from "../../src/config/schemaNodes";
import { checkSection } from "../../src/config/sectionCheck";
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

/** The keys of one workspace: at the top of the section (one workspace) or in `workspaces`. */
function workspaceKeys(exampleToken: string): Record<string, SchemaNode> {
  return {
    bot_token: str("The app's Bot User OAuth Token (OAuth & Permissions).", {
      pattern: "^xoxb-[\\w-]+$",
      "x-expected": "a bot token (xoxb-…, under OAuth & Permissions)",
      examples: [exampleToken],
    }),
    app_token: str("App-level token with connections:write, for Socket Mode (recommended).", {
      pattern: "^xapp-[\\w-]+$",
      "x-expected": "an app-level token (xapp-…, under Basic Information)",
      examples: ["xapp-1-A000-0000-example"],
    }),
    signing_secret: str("Signing secret, for the Events API over HTTP instead of Socket Mode.", {
      minLength: 1,
      "x-expected": "the app's signing secret (Basic Information)",
      examples: ["0123456789abcdef0123456789abcdef"],
    }),
    http_port: int("Port of the Events API receiver (HTTP mode).", 3000, 0, 65535),
    http_host: str("Address of the Events API receiver (HTTP mode).", {
      default: "0.0.0.0",
      minLength: 1,
      "x-expected": "an IP address or host name",
    }),
  };
}

/** The keys of `platforms.slack`: validated, defaulted and sampled by the core's config loader. */
export const SLACK_CONFIG_SCHEMA: ConnectorConfigSchema = {
  description:
    "Slack apps: one workspace's keys (bot_token, app_token or signing_secret, …) at the top, or several under workspaces.",
  properties: {
    ...workspaceKeys("xoxb-example"),
    workspaces: {
      type: "array",
      description:
        "Several workspaces, each a map of bot_token, app_token or signing_secret, http_port, http_host.",
      default: [],
      items: {
        type: "object",
        additionalProperties: false,
        required: ["bot_token"],
        properties: workspaceKeys("xoxb-second"),
      },
    },
    owner: str("Matrix user who owns the configured workspace logins (required with them).", {
      pattern: MXID,
      "x-expected": "a Matrix user id",
      "x-required-when": "bot_token is set",
      examples: ["@you:example.org"],
    }),
    api_url: str("Web API base (a test stand-in).", {
      default: "https://slack.com/api/",
      pattern: HTTP_URL,
      "x-expected": "an http(s) URL",
    }),
    relay_template: str(
      "Prefix of a relayed Matrix message when the app lacks chat:write.customize ({displayname}, {message}).",
      { default: DEFAULT_RELAY_TEMPLATE },
    ),
    max_file_bytes: int("Largest file bridged either way.", 100 * 1024 * 1024, 1),
  },
  requires: [{ when: "bot_token", need: ["owner"] }],
};

/** Whether `t` has the shape of a Slack bot token. */
export const isBotToken = (t: string): boolean => /^xoxb-[\w-]+$/.test(t);

interface WorkspaceSection {
  bot_token?: string;
  app_token?: string;
  signing_secret?: string;
  http_port: number;
  http_host: string;
}

/** The section as the schema leaves it: checked, defaults filled in. */
interface SlackSection extends WorkspaceSection {
  workspaces: WorkspaceSection[];
  owner?: string;
  api_url: string;
  relay_template: string;
  max_file_bytes: number;
}

/**
 * Reads `platforms.<platform>` (the section itself is `raw`): checked against
 * {@link SLACK_CONFIG_SCHEMA}, then the rules between keys. Throws `ConfigError` naming the key
 * path and the fix.
 */
export function readSlackConfig(raw: unknown, platform = "slack"): SlackConfig {
  const c = checkSection(SLACK_CONFIG_SCHEMA, raw, platform) as unknown as SlackSection;
  const key = (k: string): string => `platforms.${platform}.${k}`;
  const problems: string[] = [];
  // One workspace may be given at the top level, several under `workspaces`.
  const raws: Array<[string, WorkspaceSection]> = c.workspaces.map((w, i) => [
    `${key("workspaces")}[${i}]`,
    w,
  ]);
  if (c.bot_token !== undefined) raws.unshift([`platforms.${platform}`, c]);
  const workspaces: WorkspaceConfig[] = [];
  for (const [at, w] of raws) {
    if (!w.bot_token) continue; // the schema requires it in a list entry; absent at the top: no workspace
    if (!w.app_token && !w.signing_secret)
      problems.push(
        `${at}: give app_token (Socket Mode, recommended) or signing_secret (Events API over HTTP)`,
      );
    workspaces.push({
      botToken: w.bot_token,
      appToken: w.app_token,
      signingSecret: w.app_token ? undefined : w.signing_secret,
      httpPort: w.http_port,
      httpHost: w.http_host,
    });
  }
  if (new Set(workspaces.map((w) => w.botToken)).size !== workspaces.length)
    problems.push(`${key("workspaces")}: the same bot_token is listed twice; list each workspace once`);
  if (workspaces.length && !c.owner)
    problems.push(
      `${key("owner")}: is missing (needed with bot_token or workspaces): add it, e.g. owner: "@you:example.org"`,
    );
  if (problems.length) throw new ConfigError(problems, `platforms.${platform}`);
  return {
    owner: c.owner,
    workspaces,
    apiUrl: c.api_url.endsWith("/") ? c.api_url : `${c.api_url}/`,
    relayTemplate: c.relay_template,
    maxFileBytes: c.max_file_bytes,
  };
}

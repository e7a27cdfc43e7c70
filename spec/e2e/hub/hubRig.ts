/**
 * One Matrix room linked to a Telegram group, a Discord channel, a Slack channel and a WhatsApp
 * group at once, each on its wire-level stand-in, with the AI puppet on the OpenAI stand-in: the
 * real bridge CLI on the shared Synapse, its state in a PostgreSQL database of this suite (the
 * WhatsApp device is stored there first, as a finished QR login leaves it).
 */
import { randomBytes, randomInt } from "node:crypto";
import path from "node:path";
import type { MatrixEvent, MatrixTestClient } from "../../harness/MatrixTestClient";
import { RIG_DOMAIN } from "../../harness/synapse";
import type { RecordedCall as DiscordCall, DiscordServer } from "../../standins/discord/DiscordServer";
import { startWorld, until, type WorldIds } from "../../standins/discord/harness";
import { scriptedBackend } from "../../standins/llm/backend";
import { OpenAIStandin } from "../../standins/llm/OpenAIStandin";
import { workspaceConfig } from "../../standins/slack/harness";
import { SlackServer, type Workspace } from "../../standins/slack/SlackServer";
import { TelegramServer } from "../../standins/telegram/TelegramServer";
import { WhatsAppServer } from "../../standins/whatsapp/WhatsAppServer";
import { AI } from "../ai/aiRig";
import { BOT, type CoreRig, startCoreRig, user } from "../core/coreRig";
import { prepareDatabase } from "../whatsapp/waRig";

const TRUST_ROOT = path.resolve(__dirname, "../../standins/whatsapp/trustRoot.ts");

export const TG_CHAT = -1005550001;
export const TOM = 601;
export const TEAM = "T0HUBA";
export const CH = "C0HUBGEN";
export const UMA = "U0HUMA";
export const ME = "15550000101";
export const GUS = "15552220101";
export const GROUP = "120363000000000101@g.us";
export const WAIT = 30_000;

export type Side = "matrix" | "telegram" | "discord" | "slack" | "whatsapp";
export const PLATFORMS = ["telegram", "discord", "slack", "whatsapp"] as const;
export type Platform = (typeof PLATFORMS)[number];

export const ghostOf: Record<Platform, (id: string) => string> = {
  telegram: (id) => `@_telegram_${id}:${RIG_DOMAIN}`,
  discord: (id) => `@_discord_${id}:${RIG_DOMAIN}`,
  slack: (id) => `@_slack_${`${TEAM}_${id}`.toLowerCase()}:${RIG_DOMAIN}`,
  whatsapp: (id) => `@_whatsapp_${id}:${RIG_DOMAIN}`,
};

export interface HubRig {
  core: CoreRig;
  tg: TelegramServer;
  dc: DiscordServer;
  ids: WorldIds;
  slack: SlackServer;
  sw: Workspace;
  wa: WhatsAppServer;
  openai: OpenAIStandin;
  alice: MatrixTestClient;
  /** The room linked to all four chats. */
  hub: string;
  /** Messages the bridge posted in the linked chat of `platform` whose text contains `text`. */
  posts(platform: Platform, text: string): unknown[];
  /** The id, on `platform`, of the bridge's post containing `text` (waits for it). */
  copy(platform: Platform, text: string): Promise<string>;
  /** The Matrix message event with this body in the hub (waits for it). */
  event(body: string): Promise<MatrixEvent>;
  /** Sends a command in the hub and waits for the bot's answer matching `answer`. */
  command(text: string, answer: RegExp): Promise<MatrixEvent>;
  stop(): Promise<void>;
}

/** A Discord message post of the bridge (a webhook execution or, as a fallback, the bot's own). */
export function isDiscordPost(c: DiscordCall, channel: string): boolean {
  return (
    c.method === "POST" &&
    (/^\/webhooks\/\d+\/[^/]+$/.test(c.path) || c.path === `/channels/${channel}/messages`)
  );
}

/** A Discord post's own text: without the quote a relayed reply starts with. */
const discordText = (c: DiscordCall): string =>
  String((c.body.json as { content?: unknown } | undefined)?.content ?? "")
    .split("\n")
    .filter((line) => !line.startsWith("> "))
    .join("\n");

export async function startHubRig(): Promise<HubRig> {
  const tg = await TelegramServer.start({
    token: `${randomInt(100000, 999999)}:${randomBytes(24).toString("base64url")}`,
    botUser: { id: 7000101, is_bot: true, first_name: "Bridge", username: "clawbridge_hub_bot" },
  });
  tg.addChat({ id: TG_CHAT, type: "supergroup", title: "Hub on Telegram" });
  tg.addUser({ id: TOM, first_name: "Tom", last_name: "Gram" });
  const { server: dc, ids } = await startWorld();
  const slack = await SlackServer.start();
  const sw = slack.addWorkspace({ team: TEAM, name: "Hubworks" });
  sw.addUser({ id: UMA, name: "uma", real_name: "Uma Slack", display_name: "Uma" });
  sw.addChannel({ id: CH, name: "hub", members: [UMA, sw.botUserId] });
  const wa = await WhatsAppServer.start();
  wa.contact(GUS, "Gus");
  wa.group(GROUP, { subject: "Hub on WhatsApp", participants: [ME, GUS] });
  const db = await prepareDatabase({ owner: `@alice:${RIG_DOMAIN}`, number: ME, name: "Alice W" });
  const apiKey = `sk-${randomBytes(12).toString("hex")}`;
  const openai = await OpenAIStandin.start({ apiKey, backend: scriptedBackend("unused") });
  const owner = `@alice:${RIG_DOMAIN}`;
  const core = await startCoreRig({
    database: { url: db.url },
    env: {
      NODE_OPTIONS: `--require ${require.resolve("tsx/cjs")} --require ${TRUST_ROOT}`,
      CLAWBRIDGE_TEST_WA_CERT_ROOT: wa.certRootHex,
    },
    ai: {
      providers: {
        plain: {
          kind: "openai",
          base_url: openai.baseUrl,
          api_key: apiKey,
          model: "standin-plain",
          stream: false,
        },
      },
      default_provider: "plain",
      limits: { user_per_minute: 0, room_per_minute: 0, user_daily_tokens: 0, room_daily_tokens: 0 },
    },
    platforms: {
      telegram: {
        enabled: true,
        bot_token: tg.token,
        owner,
        api_root: tg.url,
        poll_timeout_seconds: 1,
        backoff_initial_ms: 50,
        backoff_max_ms: 500,
      },
      discord: {
        enabled: true,
        bot_token: dc.token,
        owner,
        api_root: dc.api,
        cdn_root: dc.cdn,
        guilds: [ids.guild],
        moderation: true,
      },
      slack: { enabled: true, owner, api_url: slack.apiUrl, workspaces: [workspaceConfig(sw)] },
      whatsapp: {
        enabled: true,
        websocket_url: wa.url,
        backoff_initial_ms: 100,
        backoff_max_ms: 500,
        connect_timeout_ms: 10_000,
        query_timeout_ms: 10_000,
        ack_timeout_ms: 1000,
        send_attempts: 2,
      },
    },
  });
  const alice = await user("alice");
  await until(() => dc.liveSessions() === 1, 60_000, "the bridge's Discord gateway session");
  await slack.until(() => slack.connected(TEAM), 60_000, "the Slack socket");
  await wa.until(() => wa.connected().includes(ME), 60_000, "the WhatsApp device");
  await tg.waitFor((c) => c.method === "getUpdates", 60_000);

  const hub = await alice.createRoom({ name: "The hub", invite: [BOT] });
  await alice.waitFor(
    (e) =>
      e.room_id === hub &&
      e.type === "m.room.member" &&
      e.state_key === BOT &&
      e.content.membership === "join",
    { timeoutMs: WAIT },
  );
  // The bot redacts what moderators delete on a platform: it needs a moderator's power here.
  const levels = await alice.getState(hub, "m.room.power_levels");
  await alice.sendState(hub, "m.room.power_levels", "", {
    ...levels,
    users: { ...(levels.users as Record<string, number>), [BOT]: 50 },
  });
  const command = async (text: string, answer: RegExp) => {
    const before = new Set(alice.eventsIn(hub).map((e) => e.event_id));
    await alice.sendText(hub, text);
    return alice.waitFor(
      (e) =>
        e.room_id === hub &&
        e.sender === BOT &&
        !before.has(e.event_id) &&
        answer.test(String(e.content.body)),
      { timeoutMs: WAIT },
    );
  };
  await command(`!cb link telegram ${TG_CHAT}`, /^Linked this room to telegram/);
  await command(`!cb link discord ${ids.general}`, /^Linked this room to discord/);
  await command(`!cb link slack ${CH}`, /^Linked this room to slack/);
  await command(`!cb link whatsapp ${GROUP}`, /^Linked this room to whatsapp/);
  // People without a WhatsApp login (everyone on the other platforms, the AI) go out through alice's account.
  await command("!cb relay on", /whatsapp: relaying is on/);
  await alice.invite(hub, AI);
  await alice.waitFor(
    (e) =>
      e.room_id === hub &&
      e.type === "m.room.member" &&
      e.state_key === AI &&
      e.content.membership === "join",
    { timeoutMs: WAIT },
  );

  const posts = (platform: Platform, text: string): unknown[] => {
    switch (platform) {
      case "telegram":
        return tg.calls.filter(
          (c) =>
            /^send(Message|Photo|Document)$/.test(c.method) &&
            !c.error &&
            String(c.params.text ?? c.params.caption ?? "").includes(text),
        );
      case "discord":
        return dc.calls.filter(
          (c) => isDiscordPost(c, ids.general) && c.status === 200 && discordText(c).includes(text),
        );
      case "slack":
        return slack.calls.filter(
          (c) => c.method === "chat.postMessage" && !c.error && String(c.params.text ?? "").includes(text),
        );
      case "whatsapp":
        return wa.sent.filter((m) => m.to === GROUP && (m.text ?? "").includes(text));
    }
  };
  const copy = async (platform: Platform, text: string): Promise<string> => {
    switch (platform) {
      case "telegram": {
        const c = await tg.waitFor(
          (c) => c.method === "sendMessage" && !c.error && String(c.params.text ?? "").includes(text),
          WAIT,
        );
        return String((c.result as { message_id: number }).message_id);
      }
      case "discord": {
        const c = await dc.waitFor(
          (c) => isDiscordPost(c, ids.general) && c.status === 200 && discordText(c).includes(text),
          WAIT,
        );
        return String((c.response as { id: string }).id);
      }
      case "slack":
        await slack.waitFor(
          (c) => c.method === "chat.postMessage" && !c.error && String(c.params.text ?? "").includes(text),
          WAIT,
        );
        return sw.messages.find((m) => m.channel === CH && m.bot_id && m.text.includes(text))!.ts;
      case "whatsapp":
        return (await wa.waitFor((m) => m.to === GROUP && (m.text ?? "").includes(text), WAIT, text)).id;
    }
  };
  return {
    core,
    tg,
    dc,
    ids,
    slack,
    sw,
    wa,
    openai,
    alice,
    hub,
    posts,
    copy,
    event: (body) =>
      alice.waitFor((e) => e.room_id === hub && e.type === "m.room.message" && e.content.body === body, {
        timeoutMs: WAIT,
      }),
    command,
    async stop() {
      await core.stop();
      await Promise.allSettled([tg.close(), dc.close(), slack.close(), wa.close(), openai.close()]);
      await db.drop();
    },
  };
}

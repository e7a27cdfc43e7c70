import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { dump, load } from "js-yaml";
import type { MatrixEvent, MatrixTestClient } from "../../harness/MatrixTestClient";
import { RIG_DOMAIN } from "../../harness/synapse";
import type { LlmBackend } from "../../standins/llm/backend";
import type { RecordedRequest } from "../../standins/llm/LlmStandin";
import { OllamaStandin } from "../../standins/llm/OllamaStandin";
import { OpenAIStandin } from "../../standins/llm/OpenAIStandin";
import { BOT, type CoreRig, portalRoomFor, startCoreRig } from "../core/coreRig";

export const AI = `@ai:${RIG_DOMAIN}`;

/** The bridge with the AI puppet on two model stand-ins: `primary` (OpenAI wire) fails over to `backup` (Ollama). */
export interface AiRig {
  core: CoreRig;
  openai: OpenAIStandin;
  ollama: OllamaStandin;
  apiKey: string;
  /** Rewrites the `ai` section (merged) and restarts the bridge on the same data. */
  reconfigure(ai: Record<string, unknown>): Promise<void>;
  stop(): Promise<void>;
}

export async function startAiRig(
  ai: Record<string, unknown> = {},
  opts: {
    backend?: LlmBackend;
    timeoutMs?: number;
    permissions?: Record<string, string>;
    /** Extra `bridge` keys. */
    bridge?: Record<string, unknown>;
    /** The `encryption` section. */
    encryption?: Record<string, unknown>;
    /** Where the bridge reaches the homeserver (a proxy in front of the shared Synapse). */
    homeserverUrl?: string;
    /** Platform sections next to testnet (a real connector against its stand-in). */
    platforms?: Record<string, Record<string, unknown>>;
    /** Providers (primary, backup, plain) configured with `vision: true`. */
    vision?: string[];
    /** Providers configured with `tools: true`. */
    tools?: string[];
  } = {},
): Promise<AiRig> {
  const { backend, timeoutMs = 5000 } = opts;
  const apiKey = `sk-${randomBytes(12).toString("hex")}`;
  const openai = await OpenAIStandin.start({ apiKey, backend });
  const ollama = await OllamaStandin.start({ backend });
  const providers: Record<string, Record<string, unknown>> = {
    primary: {
      kind: "openai",
      base_url: openai.baseUrl,
      api_key: apiKey,
      model: "standin-gpt",
      max_retries: 0,
      timeout_ms: timeoutMs,
    },
    backup: {
      kind: "ollama",
      base_url: ollama.url,
      model: "standin-llama",
      max_retries: 0,
      timeout_ms: timeoutMs,
    },
    plain: {
      kind: "openai",
      base_url: openai.baseUrl,
      api_key: apiKey,
      model: "standin-plain",
      stream: false,
    },
  };
  for (const name of opts.vision ?? []) providers[name]!.vision = true;
  for (const name of opts.tools ?? []) providers[name]!.tools = true;
  const section = {
    providers,
    default_provider: "primary",
    failover: ["backup"],
    streaming: { edit_interval_ms: 1000, max_edits: 5 },
    limits: { user_per_minute: 0, room_per_minute: 0, user_daily_tokens: 0, room_daily_tokens: 0 },
    ...ai,
  };
  const core = await startCoreRig({
    ai: section,
    permissions: opts.permissions,
    bridge: opts.bridge,
    encryption: opts.encryption,
    homeserverUrl: opts.homeserverUrl,
    platforms: opts.platforms,
  });
  return {
    core,
    openai,
    ollama,
    apiKey,
    async reconfigure(change) {
      const config = load(readFileSync(core.configPath, "utf8")) as Record<string, Record<string, unknown>>;
      config.ai = { ...config.ai, ...change };
      writeFileSync(core.configPath, dump(config));
      await core.restart();
    },
    async stop() {
      await core.stop();
      await openai.close();
      await ollama.close();
    },
  };
}

type Content = Record<string, unknown>;

function rel(e: MatrixEvent): Content {
  return (e.content["m.relates_to"] ?? {}) as Content;
}

/** The AI's first message of an answer (not an edit, not a notice) in the room, optionally replying to `to`. */
export function isAnswer(e: MatrixEvent, to?: string): boolean {
  if (e.sender !== AI || e.type !== "m.room.message" || e.content.msgtype !== "m.text") return false;
  const r = rel(e);
  if (r.rel_type === "m.replace") return false;
  return to === undefined || (r["m.in_reply_to"] as Content | undefined)?.event_id === to;
}

export function isEditOf(e: MatrixEvent, eventId: string): boolean {
  return e.sender === AI && rel(e).rel_type === "m.replace" && rel(e).event_id === eventId;
}

export function isNoticeFromAi(e: MatrixEvent, pattern: RegExp): boolean {
  return e.sender === AI && e.content.msgtype === "m.notice" && pattern.test(String(e.content.body));
}

/** The text an answer shows after its edits (the newest `m.new_content`). */
export function shownText(client: MatrixTestClient, roomId: string, first: MatrixEvent): string {
  const edits = client.eventsIn(roomId).filter((e) => isEditOf(e, first.event_id!));
  const last = edits[edits.length - 1];
  return String(last ? (last.content["m.new_content"] as Content).body : first.content.body);
}

/** Waits until the answer shows `text` (after its final edit). */
export async function waitForShown(
  client: MatrixTestClient,
  roomId: string,
  first: MatrixEvent,
  text: string,
  timeoutMs = 30_000,
): Promise<void> {
  if (String(first.content.body) === text && !first.content["m.new_content"]) {
    // The whole answer may have been the first message already.
    const edited = client.eventsIn(roomId).some((e) => isEditOf(e, first.event_id!));
    if (!edited) return;
  }
  await client.waitFor(
    (e) => isEditOf(e, first.event_id!) && (e.content["m.new_content"] as Content).body === text,
    { roomId, timeoutMs },
  );
}

/** The chat messages of a recorded request. */
export function messagesOf(r: RecordedRequest): Array<{ role: string; content: string }> {
  // Failed and hung requests are not parsed by the stand-in: read the wire body.
  const wire = (r.body as { messages?: Array<{ role: string; content: string }> } | undefined)?.messages;
  return (r.chat?.messages ?? wire ?? []).map((m) => ({ role: m.role, content: m.content }));
}

/** The last message's text of a recorded request. */
export function lastContent(r: RecordedRequest): string {
  const m = messagesOf(r);
  return m[m.length - 1]?.content ?? "";
}

/** A room with alice and bob (and the AI, invited by alice), joined by all. */
export async function groupWithAi(
  alice: MatrixTestClient,
  bob: MatrixTestClient,
  name: string,
): Promise<string> {
  const roomId = await alice.createRoom({ name, invite: [bob.userId] });
  await bob.join(roomId);
  await alice.invite(roomId, AI);
  await alice.waitFor(
    (e) => e.type === "m.room.member" && e.state_key === AI && e.content.membership === "join",
    {
      roomId,
      timeoutMs: 30_000,
    },
  );
  return roomId;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The `platforms.telegram` section of a real Telegram connector against `tg`, owned by alice. */
export function telegramSection(tg: { token: string; url: string }): Record<string, unknown> {
  return {
    enabled: true,
    bot_token: tg.token,
    owner: "@alice:localhost",
    api_root: tg.url,
    poll_timeout_seconds: 1,
  };
}

/**
 * A room of two platforms: the portal of a testnet chat (made by `first`, said by `user`), also
 * linked to the Telegram group `tgGroup` with `!cb link`, and joined by alice.
 */
export async function twoPlatformRoom(
  rig: AiRig,
  alice: MatrixTestClient,
  opts: { chat: string; name: string; user: { id: string; name: string }; first: string; tgGroup: number },
): Promise<string> {
  const { testnet } = rig.core;
  testnet.addChat({ id: opts.chat, name: opts.name, kind: "group" });
  testnet.addUser(opts.user);
  testnet.injectMessage({ chat: opts.chat, sender: opts.user.id, text: opts.first });
  const room = await portalRoomFor(alice, opts.chat);
  await alice.waitFor((e) => e.content.body === opts.first, { roomId: room, timeoutMs: 30_000 });
  await alice.sendText(room, `!cb link telegram ${opts.tgGroup}`);
  await alice.waitFor(
    (e) => e.sender === BOT && /^Linked this room to telegram/.test(String(e.content.body)),
    {
      roomId: room,
      timeoutMs: 30_000,
    },
  );
  return room;
}

/** Invites the AI and waits for it to join. */
export async function inviteAi(alice: MatrixTestClient, roomId: string): Promise<void> {
  await alice.invite(roomId, AI);
  await alice.waitFor(
    (e) => e.type === "m.room.member" && e.state_key === AI && e.content.membership === "join",
    {
      roomId,
      timeoutMs: 30_000,
    },
  );
}

import { humanDuration, parseDuration } from "../commands/moderationArgs";
import type { BridgeConfig } from "../config/types";
import { BoundedMap, BoundedSet } from "../core/Bounded";
import type { ConnectorRegistry } from "../core/ConnectorRegistry";
import { canRelay, type LoginRef, type NetworkClient } from "../core/connector";
import type { GhostService } from "../core/GhostService";
import { BACKFILLED, txnIdFor } from "../core/InboundBridge";
import { chatRefOf } from "../core/OutboundBridge";
import type { Permissions } from "../core/Permissions";
import type { PortalService } from "../core/PortalService";
import { Logger } from "../log/Logger";
import type { Intent, MatrixApi, RoomEvent } from "../matrix/MatrixApi";
import type { Store } from "../store/Store";
import type { Portal } from "../store/types";
import {
  type AiCommandReply,
  type AiSettingName,
  applyAiSetting,
  OPEN_COMMANDS,
  runAiCommand,
} from "./AiCommands";
import { type AiRoom, AiStore, startOfUtcDay } from "./AiStore";
import { assembleAnswering } from "./assemble";
import { attachmentKind } from "./attachments";
import { Limits } from "./Limits";
import { type ProviderFactory, ProviderSet } from "./ProviderSet";
import type { Responder } from "./Responder";
import { SenderFilter } from "./SenderFilter";
import type { Toolbox } from "./tools/Toolbox";
import type { TranscriptPoster } from "./transcripts";
import { isAnswerable, replyTarget, shouldAnswer } from "./triggers";

const log = new Logger("AiService");

const NOTICE_EVERY_MS = 60_000;
const DAY_MS = 86_400_000;
/** Rooms whose settings, member counts and notice times are kept in memory. */
const CACHE_ROOMS = 10_000;
const MEMBER_CACHE_MS = 30_000;
/** Generations a trigger gets: one that keeps being cut off (a crash loop) is given up. */
const MAX_ATTEMPTS = 3;
/** A trigger older than this when the bridge starts again is given up, not answered late. */
const MAX_PENDING_AGE_MS = 6 * 3600_000;

export interface AiServiceOptions {
  config: BridgeConfig;
  api: MatrixApi;
  store: Store;
  permissions: Permissions;
  botUserId: string;
  ghosts: GhostService;
  portals: PortalService;
  registry: ConnectorRegistry;
  providers: ProviderFactory;
}

/**
 * The AI puppet. The delivery queue offers it every room event ({@link offer}): membership,
 * commands and trigger rules run in a per-room lane of their own, and answers in another (one
 * generation per room at a time), so a slow model never holds up the bridge or other rooms.
 * A trigger the rules accept is recorded in PostgreSQL before the queue lets go of its event
 * and leaves it with the answer, so answers cut off by a crash are generated at the next start.
 */
export class AiService {
  readonly userId: string;
  private readonly intent: Intent;
  private readonly store: AiStore;
  private readonly providers: ProviderSet;
  private readonly responder: Responder;
  private readonly toolbox: Toolbox;
  private readonly transcripts: TranscriptPoster;
  private readonly senders: SenderFilter;
  private readonly limits: Limits;
  private readonly joined = new Set<string>();
  private readonly rooms = new BoundedMap<string, AiRoom>(CACHE_ROOMS);
  private readonly lanes = new Map<string, Promise<void>>();
  private readonly running = new Map<string, AbortController>();
  /** Per room, the newest trigger waiting for the room's generation lane. */
  private readonly pending = new Map<string, { triggerId: string; job: () => Promise<void> }>();
  /** Triggers scheduled or generating (a replayed event must not be answered twice). */
  private readonly triggers = new Set<string>();
  private readonly offered = new Set<string>();
  private readonly members = new BoundedMap<string, { count: number; at: number }>(CACHE_ROOMS);
  private readonly noticed = new BoundedMap<string, number>(CACHE_ROOMS);
  /** The AI's recent messages (a reply to an older one is looked up on the homeserver). */
  private readonly ownEvents = new BoundedSet<string>(5000);
  private stopped = false;

  constructor(private readonly opts: AiServiceOptions) {
    const { config, api } = opts;
    const ai = config.ai;
    this.userId = `@${ai.localpart}:${config.homeserver.domain}`;
    this.intent = api.intent(this.userId);
    this.store = new AiStore(opts.store);
    this.providers = new ProviderSet(ai, opts.providers);
    this.limits = new Limits(ai.limits, this.store);
    this.senders = new SenderFilter({
      aiUserId: this.userId,
      botUserId: opts.botUserId,
      ignoreUsers: ai.ignore_users,
      ghosts: opts.ghosts,
      portals: opts.portals,
      registry: opts.registry,
    });
    ({
      responder: this.responder,
      toolbox: this.toolbox,
      transcripts: this.transcripts,
    } = assembleAnswering({
      config,
      api,
      intent: this.intent,
      botUserId: opts.botUserId,
      providers: this.providers,
      store: this.store,
    }));
  }

  async start(): Promise<void> {
    for (const r of await this.store.joinedRooms()) this.joined.add(r);
    await this.leaveManagementRooms();
    const resumed = await this.resume();
    log.info("AI ready", {
      rooms: this.joined.size,
      providers: this.providers.names().join(",") || "none",
      resumed,
    });
  }

  /** Schedules the answers a crash or stop cut off; gives up (with a notice) on stale ones. */
  private async resume(): Promise<number> {
    let count = 0;
    for (const p of await this.store.pending.all()) {
      const ev = p.event;
      if (!this.joined.has(ev.room_id) || (await this.store.answered(ev.event_id))) {
        await this.store.pending.drop(ev.event_id);
        continue;
      }
      if (p.attempts >= MAX_ATTEMPTS || Date.now() - p.createdAt.getTime() > MAX_PENDING_AGE_MS) {
        await this.store.pending.drop(ev.event_id);
        log.warn("pending AI answer given up", {
          room: ev.room_id,
          trigger: ev.event_id,
          attempts: p.attempts,
        });
        await this.responder.notice(
          ev,
          "⚠️ The AI was interrupted and could not answer this; please ask again.",
        );
        continue;
      }
      this.answerLater(ev, p.asReply);
      count += 1;
    }
    if (count) log.info("resuming AI answers cut off by the last stop", { count });
    return count;
  }

  /** Cancels answers in progress and waits for the lanes to settle. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.pending.clear();
    for (const c of this.running.values()) c.abort();
    await Promise.allSettled([...this.lanes.values()]);
    await this.toolbox.close();
  }

  /** Whether the AI is joined to the room (so it needs the room's events, platform users' too). */
  isIn(roomId: string): boolean {
    return this.joined.has(roomId);
  }

  /**
   * Takes a room event from the delivery queue. Returns true when the event was an AI command
   * (not to be relayed to platforms); a message is resolved once the trigger rules have decided
   * and an accepted trigger is recorded, never after an answer.
   */
  offer(ev: RoomEvent): boolean | Promise<boolean> {
    if (this.stopped || this.offered.has(ev.event_id)) return this.isCommand(ev);
    this.offered.add(ev.event_id);
    if (this.offered.size > 5000) this.offered.delete(this.offered.values().next().value!);
    if (ev.type === "m.room.member") {
      this.members.delete(ev.room_id);
      if (ev.state_key === this.userId) this.inLane(`m:${ev.room_id}`, () => this.membership(ev));
      return false;
    }
    if (!this.joined.has(ev.room_id) || ev.type !== "m.room.message") return false;
    // History brought into a new portal happened before the room: context, not questions.
    if (ev.content[BACKFILLED] === true) return false;
    if (ev.sender === this.userId) {
      this.ownEvents.add(ev.event_id);
      return false;
    }
    if (this.isCommand(ev)) {
      this.inLane(`m:${ev.room_id}`, () => this.command(ev));
      return true;
    }
    return this.inLane(`m:${ev.room_id}`, () => this.consider(ev)).then(() => false);
  }

  private isCommand(ev: RoomEvent): boolean {
    const body = (ev.content as { body?: unknown }).body;
    const prefix = this.opts.config.ai.command_prefix;
    return (
      this.joined.has(ev.room_id) &&
      ev.type === "m.room.message" &&
      ev.sender !== this.userId &&
      ev.content[BACKFILLED] !== true &&
      typeof body === "string" &&
      (body.trim() === prefix || body.trim().startsWith(`${prefix} `))
    );
  }

  private inLane(key: string, work: () => Promise<void>): Promise<void> {
    const next = (this.lanes.get(key) ?? Promise.resolve())
      .then(work)
      .catch((err: unknown) => log.error("AI work failed", { lane: key, err: String(err) }));
    this.lanes.set(key, next);
    void next.then(() => {
      if (this.lanes.get(key) === next) this.lanes.delete(key);
    });
    return next;
  }

  /** A room's settings with their effective values, and today's and total usage (the web page). */
  async roomView(roomId: string) {
    const { ai } = this.opts.config;
    const r = await this.settings(roomId);
    const [today, total] = await Promise.all([
      this.store.roomUsage(roomId, startOfUtcDay()),
      this.store.roomUsage(roomId, new Date(0)),
    ]);
    return {
      joined: r.joined,
      mode: r.mode ?? null,
      model: r.model ?? null,
      provider: r.provider ?? null,
      prompt: r.systemPrompt ?? null,
      defaults: {
        mode: ai.default_mode,
        provider: this.providers.defaultName() ?? null,
        prompt: ai.system_prompt,
      },
      providers: this.providers.names(),
      usage: { today, total, daily_limit: ai.limits.room_daily_tokens },
    };
  }

  /** `sender`'s AI usage today (UTC) and in total. */
  async userUsage(sender: string) {
    const [today, total] = await Promise.all([
      this.store.userUsage(sender, startOfUtcDay()),
      this.store.userUsage(sender, new Date(0)),
    ]);
    return { today, total, daily_limit: this.opts.config.ai.limits.user_daily_tokens };
  }

  /**
   * Changes one setting of a room for `sender`, as `!ai <name> <value>` would: undefined when
   * the sender lacks `ai.command_level`, else the command's answer.
   */
  async changeSetting(roomId: string, sender: string, name: AiSettingName, value: string) {
    if (!this.opts.permissions.allows(sender, this.opts.config.ai.command_level)) return undefined;
    const deps = { ai: this.opts.config.ai, providers: this.providers, save: (r: AiRoom) => this.save(r) };
    return applyAiSetting(deps, await this.settings(roomId), name, value);
  }

  private async settings(roomId: string): Promise<AiRoom> {
    let r = this.rooms.get(roomId);
    if (!r) {
      r = await this.store.getRoom(roomId);
      this.rooms.set(roomId, r);
    }
    return r;
  }

  private async save(room: AiRoom): Promise<void> {
    await this.store.saveRoom(room);
    this.rooms.set(room.roomId, room);
  }

  private async notice(roomId: string, reply: AiCommandReply, replyTo?: string): Promise<void> {
    const text = typeof reply === "string" ? reply : reply.body;
    const content: Record<string, unknown> = { msgtype: "m.notice", body: text };
    if (typeof reply !== "string") {
      content.format = "org.matrix.custom.html";
      content.formatted_body = reply.html;
    }
    if (replyTo) content["m.relates_to"] = { "m.in_reply_to": { event_id: replyTo } };
    await this.intent
      .sendEvent(
        roomId,
        "m.room.message",
        content,
        txnIdFor("ai-notice", roomId, replyTo ?? Date.now(), text),
      )
      .catch((err: unknown) => log.warn("notice not sent", { room: roomId, err: String(err) }));
  }

  private async membership(ev: RoomEvent): Promise<void> {
    const { config, permissions } = this.opts;
    const membership = ev.content.membership;
    const room = await this.settings(ev.room_id);
    if (membership === "leave" || membership === "ban") {
      this.joined.delete(ev.room_id);
      this.pending.delete(ev.room_id);
      await this.store.pending.dropRoom(ev.room_id);
      this.running.get(ev.room_id)?.abort();
      if (room.joined) await this.save({ ...room, joined: false });
      log.info("AI left a room", { room: ev.room_id, by: ev.sender, membership });
      return;
    }
    if (membership === "join") {
      this.joined.add(ev.room_id);
      if (!room.joined) await this.save({ ...room, joined: true });
      return;
    }
    if (membership !== "invite") return;
    if (ev.sender === this.opts.botUserId) return; // the bridge's own invite (autoJoin), joined there
    if (!permissions.allows(ev.sender, config.ai.invite_level)) {
      log.info("AI invite refused", { room: ev.room_id, by: ev.sender });
      try {
        await this.intent.join(ev.room_id);
        await this.notice(
          ev.room_id,
          `Sorry, I only join rooms when invited by users with the bridge permission level '${config.ai.invite_level}'. Ask the bridge's administrator.`,
        );
      } finally {
        await this.intent.leave(ev.room_id).catch(() => undefined);
      }
      return;
    }
    if (await this.isManagementRoom(ev.room_id)) {
      log.info("AI invite to a management room declined", { room: ev.room_id, by: ev.sender });
      try {
        await this.intent.join(ev.room_id);
        await this.notice(ev.room_id, this.managementRoomText());
      } finally {
        await this.intent.leave(ev.room_id).catch(() => undefined);
      }
      return;
    }
    await this.intent.join(ev.room_id);
    this.joined.add(ev.room_id);
    await this.save({ ...room, joined: true });
    if (await this.cannotRead(ev.room_id)) {
      // The bridge tells the room it cannot read it; a greeting would promise answers.
      log.info("AI joined an encrypted room it cannot read", { room: ev.room_id, by: ev.sender });
      return;
    }
    const prefix = config.ai.command_prefix;
    await this.notice(
      ev.room_id,
      `Hello! Mention me or reply to me and I answer (in a DM, just write). \`${prefix} help\` lists my commands.`,
    );
    log.info("AI joined a room", { room: ev.room_id, by: ev.sender });
  }

  /**
   * A portal was just made (`ai.auto_join`): the AI joins it before its first message, in a
   * direct chat answering every message (mode always), where the portal's login owner may invite
   * it and a provider is set. Not where its answers could not reach the chat (a personal account
   * that writes only for its owner there). Only at creation: once removed, it stays out.
   */
  async autoJoin(portal: Portal, login: LoginRef, client: NetworkClient): Promise<void> {
    const { config, permissions, api } = this.opts;
    const auto = config.ai.auto_join;
    const mode = auto[portal.platform] ?? auto.default ?? "dm";
    const ctx = { room: portal.roomId, platform: portal.platform, chat: portal.chatId };
    if (mode === "none" || (mode === "dm" && portal.kind !== "dm") || this.stopped) return;
    if (!this.providers.names().length) return;
    if (!permissions.allows(login.ownerMxid, config.ai.invite_level)) {
      log.info("AI not joined to a new portal: its owner may not invite the AI", ctx);
      return;
    }
    if (canRelay(client) && !(await client.relayEnabled(chatRefOf(portal)))) {
      log.info("AI not joined to a new portal: the account writes only for its owner there", ctx);
      return;
    }
    await api.intent(this.opts.botUserId).invite(portal.roomId, this.userId);
    await this.intent.join(portal.roomId);
    this.joined.add(portal.roomId);
    const room = await this.settings(portal.roomId);
    await this.save({ ...room, joined: true, mode: portal.kind === "dm" ? "always" : room.mode });
    log.info("AI joined a new portal", { ...ctx, kind: portal.kind });
  }

  /** An encrypted room, and encryption is not allowed in the config. */
  private async cannotRead(roomId: string): Promise<boolean> {
    if (this.opts.config.encryption.allow) return false;
    const state = await this.intent.getState(roomId, "m.room.encryption").catch(() => undefined);
    return state !== undefined;
  }

  /**
   * A user's DM with the bridge bot, where every message of theirs is a bridge command: the
   * AI stays out, or it would answer commands and its own commands would never reach it.
   */
  private async isManagementRoom(roomId: string): Promise<boolean> {
    return (await this.opts.store.getUserByManagementRoom(roomId)) !== undefined;
  }

  private managementRoomText(): string {
    return `This is your management room with the bridge bot: everything you write here is a bridge command, so I stay out. To talk to me, start a direct chat with me (${this.userId}).`;
  }

  /** Rooms joined before they became management rooms (or before this check existed) are left. */
  private async leaveManagementRooms(): Promise<void> {
    for (const roomId of [...this.joined]) {
      if (!(await this.isManagementRoom(roomId))) continue;
      log.info("AI leaves a management room", { room: roomId });
      this.joined.delete(roomId);
      await this.save({ ...(await this.settings(roomId)), joined: false });
      await this.notice(roomId, this.managementRoomText());
      await this.intent
        .leave(roomId)
        .catch((err: unknown) => log.warn("leave failed", { room: roomId, err: String(err) }));
    }
  }

  private async command(ev: RoomEvent): Promise<void> {
    const { config, permissions } = this.opts;
    const level = config.ai.command_level;
    const body = String(ev.content.body).trim();
    const line = body.slice(config.ai.command_prefix.length).trim();
    const name = (line.split(/\s+/)[0] || "help").toLowerCase();
    const permitted = permissions.allows(ev.sender, level);
    if (!permitted && !OPEN_COMMANDS.has(name)) {
      await this.notice(
        ev.room_id,
        `Sorry, only users with the bridge permission level '${level}' may use ${config.ai.command_prefix} commands.`,
        ev.event_id,
      );
      return;
    }
    if (name === "summarize") return this.summarize(ev, line.split(/\s+/)[1]);
    if (name === "transcribe" && !line.split(/\s+/)[1]) return this.transcribeReplied(ev);
    const reply = await runAiCommand(
      {
        ai: config.ai,
        store: this.store,
        providers: this.providers,
        settings: (r) => this.settings(r),
        save: (r) => this.save(r),
        leave: async (r) => {
          await this.notice(r, "Goodbye!", ev.event_id);
          await this.intent.leave(r);
        },
        permitted,
      },
      ev,
      line,
    );
    if (reply) await this.notice(ev.room_id, reply, ev.event_id);
  }

  /**
   * `!ai summarize [span]`: a summary of what was said in the room in the span (default a day),
   * as a reply, in the room's generation lane. Not resumed after a crash: it is asked again.
   */
  private async summarize(ev: RoomEvent, word: string | undefined): Promise<void> {
    const ms = word === undefined ? DAY_MS : parseDuration(word);
    if (ms === undefined || ms < 60_000 || ms > 366 * DAY_MS) {
      await this.notice(
        ev.room_id,
        `Give the span as a duration from a minute to a year: \`${this.opts.config.ai.command_prefix} summarize 2h\`, \`1d\`, \`1w\`.`,
        ev.event_id,
      );
      return;
    }
    const hit = await this.limits.check(ev.room_id, ev.sender);
    if (hit) {
      await this.notice(ev.room_id, hit.text, ev.event_id);
      return;
    }
    const settings = await this.settings(ev.room_id);
    this.schedule(ev.room_id, ev.event_id, async () => {
      if (this.stopped) return;
      const controller = new AbortController();
      this.running.set(ev.room_id, controller);
      try {
        await this.responder.answer({
          trigger: ev,
          settings,
          asReply: true,
          signal: controller.signal,
          summary: { sinceTs: ev.origin_server_ts - ms, span: humanDuration(ms) },
        });
      } finally {
        this.running.delete(ev.room_id);
      }
    });
  }

  private async memberCount(roomId: string): Promise<number> {
    const cached = this.members.get(roomId);
    if (cached && Date.now() - cached.at < MEMBER_CACHE_MS) return cached.count;
    const count = Object.keys(await this.intent.joinedMembers(roomId)).length;
    this.members.set(roomId, { count, at: Date.now() });
    return count;
  }

  private async repliedSender(ev: RoomEvent): Promise<string | undefined> {
    const target = replyTarget(ev.content);
    if (!target) return undefined;
    if (this.ownEvents.has(target)) return this.userId;
    try {
      return (await this.intent.getEvent(ev.room_id, target)).sender;
    } catch {
      return undefined;
    }
  }

  /**
   * `!ai transcribe` as a reply to a voice message: its transcript, posted as a reply to it, in
   * the room's transcript lane (the delivery queue does not wait for it).
   */
  private async transcribeReplied(ev: RoomEvent): Promise<void> {
    const prefix = this.opts.config.ai.command_prefix;
    if (!this.transcripts.enabled) {
      await this.notice(
        ev.room_id,
        "Transcription is not set up (ai.transcription); ask the bridge admin.",
        ev.event_id,
      );
      return;
    }
    const voice = await this.transcripts.repliedVoice(ev, this.opts.api);
    if (!voice) {
      await this.notice(
        ev.room_id,
        `Send \`${prefix} transcribe\` as a reply to a voice message or audio file; \`${prefix} transcribe on\` transcribes every one here.`,
        ev.event_id,
      );
      return;
    }
    this.transcribeLater(voice, ev.event_id);
  }

  /** Posts a voice message's transcript in the room's transcript lane; tells `askedBy` when it fails. */
  private transcribeLater(voice: RoomEvent, askedBy?: string): void {
    void this.inLane(`t:${voice.room_id}`, async () => {
      try {
        const outcome = await this.transcripts.post(voice);
        if (outcome === "silent" && askedBy)
          await this.notice(voice.room_id, "The transcription heard no words in it.", askedBy);
      } catch (err) {
        log.warn("transcript not posted", { room: voice.room_id, event: voice.event_id, err: String(err) });
        await this.notice(
          voice.room_id,
          "⚠️ Could not transcribe that voice message (the transcription endpoint failed).",
          askedBy ?? voice.event_id,
        );
      }
    });
  }

  /** The trigger rules, limits, then an answer in the room's generation lane. */
  private async consider(ev: RoomEvent): Promise<void> {
    if (
      attachmentKind(ev) === "audio" &&
      ev.sender !== this.userId &&
      this.transcripts.enabled &&
      (await this.settings(ev.room_id)).transcribe
    )
      this.transcribeLater(ev);
    if (!isAnswerable(ev)) return;
    if (await this.senders.ignored(ev.room_id, ev.sender)) return;
    const { config } = this.opts;
    const room = await this.settings(ev.room_id);
    const isDm = (await this.memberCount(ev.room_id)) <= 2;
    const answer = shouldAnswer({
      content: ev.content,
      aiUserId: this.userId,
      aiName: config.ai.displayname,
      mode: room.mode ?? config.ai.default_mode,
      modeSetInRoom: room.mode !== undefined,
      isDm,
      replyToSender: await this.repliedSender(ev),
    });
    if (!answer || (await this.store.answered(ev.event_id))) return;
    const hit = await this.limits.check(ev.room_id, ev.sender);
    if (hit) {
      const key = `${hit.scope}|${hit.kind}|${hit.scope === "user" ? ev.sender : ev.room_id}`;
      if (Date.now() - (this.noticed.get(key) ?? 0) >= NOTICE_EVERY_MS) {
        this.noticed.set(key, Date.now());
        await this.notice(ev.room_id, hit.text, ev.event_id);
      }
      log.info("AI limit reached", { room: ev.room_id, user: ev.sender, scope: hit.scope, kind: hit.kind });
      return;
    }
    await this.store.pending.add(ev, !isDm);
    this.answerLater(ev, !isDm);
  }

  /** Queues the answer to a recorded trigger in the room's generation lane. */
  private answerLater(ev: RoomEvent, asReply: boolean): void {
    const id = ev.event_id;
    if (this.triggers.has(id)) return;
    this.triggers.add(id);
    this.schedule(ev.room_id, id, async () => {
      try {
        if (this.stopped) return; // still pending: the next start resumes it
        // Undefined when it is no longer pending: answered, or the AI left the room.
        const started = await this.store.pending.startAttempt(id);
        if (!started) return;
        const controller = new AbortController();
        this.running.set(ev.room_id, controller);
        try {
          await this.responder.answer({
            trigger: ev,
            settings: await this.settings(ev.room_id),
            asReply,
            signal: controller.signal,
            attempt: started.attempt,
            firstEventId: started.firstEventId,
            onFirst: (first) => this.store.pending.setFirstEvent(id, first),
          });
        } finally {
          this.running.delete(ev.room_id);
        }
      } finally {
        this.triggers.delete(id);
      }
    });
  }

  /**
   * One generation per room: while one runs, only the newest waiting trigger is kept (its
   * context holds the earlier messages anyway).
   */
  private schedule(roomId: string, triggerId: string, job: () => Promise<void>): void {
    const key = `g:${roomId}`;
    if (this.lanes.has(key)) {
      const replaced = this.pending.get(roomId);
      this.pending.set(roomId, { triggerId, job });
      if (replaced) this.supersede(replaced.triggerId);
      return;
    }
    const run = async (j: () => Promise<void>): Promise<void> => {
      await j();
      const next = this.pending.get(roomId);
      this.pending.delete(roomId);
      if (next && !this.stopped && this.joined.has(roomId)) await run(next.job);
    };
    this.inLane(key, () => run(job));
  }

  /** A waiting trigger replaced by a newer one, whose answer has it in its context. */
  private supersede(triggerId: string): void {
    this.triggers.delete(triggerId);
    this.store.pending
      .drop(triggerId)
      .catch((err: unknown) => log.warn("superseded trigger not dropped", { err: String(err) }));
  }
}

import type { AiService } from "../ai/AiService";
import { builtinCommands } from "../commands/builtin";
import { CommandHandler } from "../commands/CommandHandler";
import { policyCommand } from "../commands/policy";
import { quarantineCommand } from "../commands/quarantine";
import type { BridgeConfig, RegistrationTokens } from "../config/types";
import { HttpServer } from "../http/HttpServer";
import { MediaProxy } from "../http/MediaProxy";
import { Metrics } from "../http/Metrics";
import { Provisioning } from "../http/Provisioning";
import { Logger } from "../log/Logger";
import { type Intent, MatrixApi, MatrixError, type RoomEvent } from "../matrix/MatrixApi";
import { type Database, openDatabase } from "../store/Database";
import { DisappearingSql } from "../store/DisappearingSql";
import { Migrator } from "../store/Migrator";
import { PgStore } from "../store/PgStore";
import { TxnPruner } from "../store/TxnPruner";
import type { KvWrite, QueueItem } from "../store/types";
import { setUpWeb } from "../web/setUpWeb";
import { Backfill } from "./Backfill";
import { CatchUp } from "./CatchUp";
import { ConnectorRegistry } from "./ConnectorRegistry";
import { ConnectionState, type LoginRef, type NetworkConnector, type RemoteEvent } from "./connector";
import { DeliveryQueue } from "./DeliveryQueue";
import { Disappearing } from "./Disappearing";
import { Encryption } from "./Encryption";
import { userText } from "./errors";
import { FloodBrake } from "./FloodBrake";
import { targetOf } from "./fanOut";
import { GhostInvites } from "./GhostInvites";
import { GhostService } from "./GhostService";
import { Health, homeserverCheck, Probe } from "./Health";
import { onConnectionClosed } from "./httpCall";
import { InboundBridge, type RemotePayload, txnIdFor } from "./InboundBridge";
import { MatrixIntake, preview } from "./MatrixIntake";
import { setUpModeration } from "./moderationSetup";
import { chatRefOf, isRoomEvent, OutboundBridge } from "./OutboundBridge";
import { bridgeUserMatcher, Permissions } from "./Permissions";
import { PolicyLists } from "./PolicyLists";
import { chatKey, PortalService } from "./PortalService";
import { Quarantine } from "./Quarantine";
import { RoomUpgrades } from "./RoomUpgrades";
import { StateNotices } from "./StateNotices";

const log = new Logger("Bridge");

export interface BridgeOptions {
  config: BridgeConfig;
  tokens: RegistrationTokens;
  /** Connectors given directly (tests, embedding); the config's enabled platforms are added. */
  connectors?: NetworkConnector[];
  /**
   * Settles when the homeserver answers (the CLI's wait for it): the database starts meanwhile,
   * and nothing else does until it has answered. Its failure fails the start, before any of the
   * database's, as when the wait came first.
   */
  homeserver?: Promise<void>;
}

function isValidRemoteEvent(ev: unknown): ev is RemoteEvent {
  if (typeof ev !== "object" || ev === null) return false;
  const e = ev as {
    kind?: unknown;
    chat?: { id?: unknown };
    sender?: { id?: unknown };
    info?: { displayName?: unknown };
  };
  if (typeof e.kind !== "string" || typeof e.sender?.id !== "string") return false;
  // A profile change belongs to no chat; it must say what the profile is now.
  if (e.kind === "profile") return typeof e.info?.displayName === "string";
  return typeof e.chat?.id === "string";
}

/** The running bridge: storage, the homeserver link, connectors and the delivery queue. */
export class Bridge {
  private ready = false;
  private stopping = false;
  private txnPruner?: TxnPruner;
  private moderation!: ReturnType<typeof setUpModeration>;
  readonly startedAt = Date.now();
  private lastPing?: string;
  readonly metrics: Metrics;
  private http?: HttpServer;
  private db?: Database;
  store!: PgStore;
  api!: MatrixApi;
  bot!: Intent;
  queue!: DeliveryQueue;
  registry!: ConnectorRegistry;
  private inbound!: InboundBridge;
  private outbound!: OutboundBridge;
  private ai?: AiService;
  private stateNotices?: StateNotices;
  private catchUp?: CatchUp;
  quarantine!: Quarantine;
  /** Transactions from the homeserver, and what it never pushed. */
  private intake!: MatrixIntake;
  /** Database and homeserver as the bridge sees them, for `/health`. */
  private readonly health = new Health();
  private homeserverProbe?: Probe;
  private unwatchHomeserver?: () => void;
  private encryption?: Encryption;
  private policy?: PolicyLists;
  private disappearing?: Disappearing;

  private constructor(private readonly opts: BridgeOptions) {
    this.metrics = new Metrics(opts.config.metrics.enabled);
  }

  static async start(opts: BridgeOptions): Promise<Bridge> {
    const bridge = new Bridge(opts);
    await bridge.boot();
    return bridge;
  }

  private async boot(): Promise<void> {
    const { config, tokens } = this.opts;
    const t0 = performance.now();
    this.health.onChange((name, status) => {
      if (name === "homeserver" && status.state === "down") this.intake?.lost(true);
      // Transactions refused while the database was down wait out the homeserver's backoff
      // (up to minutes): a ping makes it retry them now.
      if (name === "database" && status.state === "up" && this.ready)
        void this.pingHomeserver("database-back");
    });
    const opening = openDatabase({
      url: config.database.url,
      dataDir: config.database.data_dir,
      embeddedPort: config.database.embedded_port,
      maxConnections: config.database.max_connections,
      supervise: { reporter: this.health.dependency("database") },
    });
    opening.catch(() => undefined); // awaited below, once the homeserver has answered
    try {
      await this.opts.homeserver;
    } catch (err) {
      // No embedded PostgreSQL is left running behind a start that failed.
      await opening.then((db) => db.close()).catch(() => undefined);
      throw err;
    }
    this.db = await opening;
    await new Migrator({ pool: this.db.pool }).migrate();
    this.store = new PgStore(this.db.pool);
    const domain = config.homeserver.domain;
    this.api = new MatrixApi(config.homeserver.url, tokens.as_token, domain);
    this.api.onUnreachable = () => this.intake?.lost(false);
    this.bot = this.api.intent(`@${config.bridge.bot.localpart}:${domain}`);
    this.intake = new MatrixIntake({
      api: this.api,
      botUserId: this.bot.userId,
      users: [this.bot.userId, this.aiUserId()].filter((u) => u !== undefined),
      store: this.store,
      metrics: this.metrics,
      queue: () => this.queue,
      outbound: () => this.outbound,
      encryption: () => this.encryption,
      ping: (reason) => this.pingHomeserver(reason),
    });
    const permissions = new Permissions(config.bridge.permissions, bridgeUserMatcher(config));
    const ghosts = new GhostService({ config, api: this.api, store: this.store, bot: this.bot });
    const backfill = new Backfill({
      store: this.store,
      limit: config.backfill.initial_limit,
      enqueue: (wake) =>
        this.queue.push([
          {
            queueKey: InboundBridge.laneOf(wake.platform, wake.backfill.chat),
            kind: "remote",
            payload: wake,
          },
        ]),
    });
    const portals = new PortalService({
      config,
      api: this.api,
      store: this.store,
      bot: this.bot,
      ghosts,
      onCreated: async (portal, login, client) => this.ai?.autoJoin(portal, login, client),
      beforeCreate: (platform, chatId, client) => backfill.willCreate(platform, chatId, client),
    });
    this.stateNotices = new StateNotices({ store: this.store, bot: this.bot });
    this.registry = new ConnectorRegistry({
      config,
      store: this.store,
      extra: this.opts.connectors,
      onEvent: (login, event) => this.onRemoteEvent(login, event),
      onEvents: (login, events, cursor) => this.onRemoteEvents(login, events, cursor),
      onStateChange: (login, state, message) => {
        this.stateNotices?.changed(login, state, message);
        if (state === ConnectionState.Connected) this.catchUp?.connected(login);
      },
    });
    this.catchUp = new CatchUp({
      store: this.store,
      registry: this.registry,
      enqueue: (login, events) => this.enqueueRemote(login, events),
    });
    const commands = new CommandHandler({ config, store: this.store, bot: this.bot, permissions });
    for (const c of builtinCommands({
      handler: commands,
      api: this.api,
      store: this.store,
      registry: this.registry,
      portals,
      botUserId: this.bot.userId,
      queueDepth: () => this.queue.size,
      startedAt: this.startedAt,
      linkApprovalTimeoutMs: config.bridge.link_approval_timeout_seconds * 1000,
      requireEncryption: config.encryption.require,
      backfill,
    })) {
      commands.register(c);
    }
    this.quarantine = new Quarantine({ store: this.store, accept: (items) => this.queue.accept(items) });
    commands.register(quarantineCommand(this.quarantine));
    // Moderation commands, audit log and sweeps (src/core/moderationSetup.ts).
    this.moderation = setUpModeration({
      config,
      store: this.store,
      bot: this.bot,
      api: this.api,
      portals,
      registry: this.registry,
      ghosts,
    });
    for (const c of this.moderation.commands) commands.register(c);
    const deps = {
      store: this.store,
      metrics: this.metrics,
      registry: this.registry,
      portals,
      ghosts,
      bot: this.bot,
    };
    // Policy lists and flood brakes: what a banned or flooding remote person sends is dropped.
    const policy = new PolicyLists({
      ...deps,
      config,
      api: this.api,
      audit: (entry) => this.moderation.audit.recordQuietly(entry),
    });
    this.policy = policy;
    commands.register(policyCommand({ policy, bot: this.bot }));
    const flood = new FloodBrake({
      config: config.flood,
      roomOf: async (platform, chat) => (await portals.get(platform, chat))?.roomId,
      notice: async (roomId, body, key) => {
        await this.bot.sendEvent(roomId, "m.room.message", { msgtype: "m.notice", body }, txnIdFor(key));
      },
    });
    this.disappearing = new Disappearing({
      sql: new DisappearingSql(this.db.pool),
      bot: this.bot,
      ghosts,
      forget: (eventId, chat) => this.store.deleteMessagesByEvent(eventId, chat),
      initialBackoffMs: config.delivery.initial_backoff_ms,
      maxBackoffMs: config.delivery.max_backoff_ms,
      maxAttempts: config.delivery.max_attempts,
    });
    this.inbound = new InboundBridge({
      ...deps,
      disappearing: this.disappearing,
      api: this.api,
      drop: async (p) => (await policy.dropRemote(p)) || (await flood.drop(p)),
      moderation: this.moderation.moderation,
      backfill,
    });
    if (config.ai.enabled) {
      // The AI's modules (providers, markdown, tools) are loaded only when it is enabled.
      const { AiService } = require("../ai/AiService") as typeof import("../ai/AiService");
      const { defaultProviderFactory } =
        require("../ai/providerFactory") as typeof import("../ai/providerFactory");
      this.ai = new AiService({
        ...deps,
        config,
        api: this.api,
        permissions,
        botUserId: this.bot.userId,
        providers: defaultProviderFactory,
      });
    }
    const media = config.appservice.public_url
      ? new MediaProxy({
          homeserverUrl: config.homeserver.url,
          asToken: tokens.as_token,
          publicUrl: config.appservice.public_url,
        })
      : undefined;
    if (!media) {
      log.warn(
        "appservice.public_url is not set: avatars of Matrix users will not show on Discord and Slack " +
          "(set it to a public URL of this listener so those platforms can fetch them)",
      );
    }
    const ghostInvites = new GhostInvites({ ...deps, config, permissions, backfill });
    const upgrades = new RoomUpgrades({
      ...deps,
      notice: (roomId, text, eventId) => this.outbound.notice(roomId, text, eventId),
    });
    this.outbound = new OutboundBridge({
      ...deps,
      mediaUrl: media && ((mxc) => media.urlFor(mxc)),
      config,
      api: this.api,
      permissions,
      commands: async (ev) =>
        (await upgrades.handle(ev)) || (await ghostInvites.handle(ev)) || commands.handle(ev),
      upgradedInto: (from, to) => upgrades.upgradedInto(from, to),
      ai: this.ai && ((ev) => this.ai!.offer(ev)),
      aiIn: this.ai && ((roomId) => this.ai!.isIn(roomId)),
      fanOut: (item, items) => this.queue.replace(item, items),
      laneIdle: (key) => this.queue.laneIdle(key),
      blocked: (ev) => policy.blocksMatrix(ev),
      moderation: this.moderation.outbound,
      disappearing: this.disappearing,
    });
    this.encryption = new Encryption({
      config,
      asToken: tokens.as_token,
      api: this.api,
      pool: this.db.pool,
      store: this.store,
      bot: this.bot,
      aiUserId: this.aiUserId(),
      requeue: (events) =>
        this.queue.push(
          events.map((e) => ({ queueKey: OutboundBridge.queueKey(e), kind: "matrix" as const, payload: e })),
        ),
    });
    this.queue = new DeliveryQueue({
      store: this.store,
      metrics: this.metrics,
      handlers: { remote: (i) => this.inbound.handle(i), matrix: (i) => this.deliverMatrix(i) },
      onGiveUp: (item, err) => this.reportFailure(item, err),
      isOutage: (_item, err) => this.homeserverDown(err),
      initialBackoffMs: config.delivery.initial_backoff_ms,
      maxBackoffMs: config.delivery.max_backoff_ms,
      maxAttempts: config.delivery.max_attempts,
      giveUpAfterMs: config.delivery.give_up_after_seconds * 1000,
    });

    const provisioning =
      config.provisioning.enabled && config.provisioning.shared_secret
        ? new Provisioning(
            config.provisioning.prefix,
            config.provisioning.shared_secret,
            this.store,
            this.quarantine,
            this.moderation.audit,
          )
        : undefined;
    const web = setUpWeb({
      config,
      permissions,
      registry: this.registry,
      commands,
      portals,
      store: this.store,
      bot: this.bot,
      ai: this.ai,
      queueDepth: () => this.queue.size,
      metrics: this.metrics,
      quarantine: this.quarantine,
      audit: this.moderation.audit,
      backfill,
    });
    this.http = new HttpServer(tokens.hs_token, {
      onTransaction: (id, txn) => this.intake.transaction(id, txn),
      onTransactionCut: (id) => this.intake.cut(id),
      onPing: (id) => {
        this.lastPing = id;
        log.debug("pinged by the homeserver", { transactionId: id });
      },
      onUserQuery: async (userId) => userId === this.bot.userId || userId === this.aiUserId(),
      health: () =>
        this.health.report(this.stopping ? "stopping" : this.ready ? "ready" : "starting", {
          queue: this.queue.size,
        }),
      metrics: config.metrics.enabled
        ? async () => ({
            contentType: this.metrics.registry.contentType,
            body: await this.metrics.registry.metrics(),
          })
        : undefined,
      provisioning: [provisioning, web?.api].filter((p) => p !== undefined),
      ui: web?.ui,
      media,
    });
    await this.http.listen(config.appservice.port, config.appservice.bind_address);
    this.homeserverProbe = new Probe({
      reporter: this.health.dependency("homeserver"),
      check: homeserverCheck(config.homeserver.url),
      intervalMs: 5_000,
      downIntervalMs: 2_000,
      timeoutMs: 3_000,
    });
    this.homeserverProbe.start();
    // A homeserver that stops or restarts closes the connections kept open to it: checked at
    // once, as a restart between two periodic checks would lose what it held (MatrixCatchUp).
    this.unwatchHomeserver = onConnectionClosed(config.homeserver.url, () => {
      void this.homeserverProbe?.checkNow();
    });

    await Promise.all([this.setupBotProfile(), this.registry.init()]);
    // Connectors may emit while they connect (catch-up); the queue holds those items until its
    // start() has scheduled what a crash left pending, which is older (order per chat).
    await this.registry.start();
    // The AI resumes answers cut off by the last stop at once: encrypted rooms need the devices.
    await this.encryption.start();
    await this.ai?.start();
    await this.policy.start();
    await this.queue.start();
    await this.disappearing.start();
    this.txnPruner = new TxnPruner(this.store);
    this.txnPruner.start();
    this.moderation.start();
    // A homeserver that failed to reach the bridge (while it was down) backs off for up to
    // minutes; an MSC2659 ping makes it retry its queued transactions now. (Not when the
    // homeserver restarts: it resumes its own retries then, and a ping would start a second,
    // concurrent retry loop in Synapse.)
    void this.pingHomeserver("start");
    // Until it has sent those, it drops to-device messages (room keys): ready after that.
    await this.encryption.awaitToDevice();
    this.ready = true;
    log.info("bridge ready", {
      ms: Math.round(performance.now() - t0),
      listen: `${config.appservice.bind_address}:${config.appservice.port}`,
      connectors: [...this.registry.connectors.keys()].join(",") || "none",
    });
  }

  /** A Matrix event from the queue: decrypted first when encrypted (see Encryption). */
  private async deliverMatrix(item: QueueItem): Promise<void> {
    const ev = item.payload;
    if (await this.policy?.observe(ev)) return;
    if (!this.encryption || !isRoomEvent(ev)) return this.outbound.handle(item);
    return this.encryption.handle(item, ev, async (clear) => {
      // Echoes of the bridge's own encrypted messages are known only once decrypted.
      if (clear !== item && (await this.outbound.isEcho(clear.payload as RoomEvent))) return;
      await this.outbound.handle(clear, item);
    });
  }

  private async pingHomeserver(reason: string): Promise<void> {
    try {
      const ms = await this.api.ping(this.opts.config.appservice.id, `clawbridge-${reason}-${Date.now()}`);
      log.info("homeserver pinged the bridge", { reason, ms });
    } catch (err) {
      log.warn("homeserver ping failed: is appservice.url reachable from the homeserver?", {
        reason,
        err: String(err),
      });
    }
  }

  private aiUserId(): string | undefined {
    const { ai, homeserver } = this.opts.config;
    return ai.enabled ? `@${ai.localpart}:${homeserver.domain}` : undefined;
  }

  /** The bot's (and the AI user's) name and avatar, from config, set only when they differ. */
  private async setupBotProfile(): Promise<void> {
    const { bridge, ai } = this.opts.config;
    const want: Array<{ intent: Intent; name: string; avatar?: string }> = [
      { intent: this.bot, name: bridge.bot.displayname, avatar: bridge.bot.avatar },
    ];
    const aiId = this.aiUserId();
    if (aiId) want.push({ intent: this.api.intent(aiId), name: ai.displayname });
    await Promise.all(
      want.map(async ({ intent, name, avatar }) => {
        if (intent !== this.bot) await intent.ensureRegistered();
        const profile = await intent.getProfile(intent.userId);
        if (profile.displayname !== name) await intent.setDisplayName(name);
        if (avatar && profile.avatar_url !== avatar) await intent.setAvatarUrl(avatar);
      }),
    );
  }

  private async onRemoteEvent(login: LoginRef, event: RemoteEvent): Promise<void> {
    await this.onRemoteEvents(login, [event]);
  }

  /**
   * Events of one login in order: typing and read notices go at once (not queued), the rest
   * into the queue in one write, together with the connector's `cursor` when given.
   */
  private async onRemoteEvents(login: LoginRef, events: RemoteEvent[], cursor?: KvWrite): Promise<void> {
    const queued: RemoteEvent[] = [];
    for (const event of events) {
      if (!isValidRemoteEvent(event)) {
        log.warn("malformed event from a connector skipped", {
          platform: login.platform,
          event: preview(event),
        });
        continue;
      }
      if (event.kind === "typing" || event.kind === "read") {
        const payload: RemotePayload = { platform: login.platform, loginId: login.id, event };
        this.inbound
          .deliver(payload)
          .catch((err: unknown) => log.debug("typing/read not bridged", { err: String(err) }));
        continue;
      }
      // Messages missed while the login was away go first, so the room keeps the platform's order.
      await this.catchUp?.before(login, event);
      queued.push(event);
    }
    await this.enqueueRemote(login, queued, cursor);
  }

  /** Queues remote events of one login durably, in order; malformed ones are logged and skipped. */
  private async enqueueRemote(login: LoginRef, events: RemoteEvent[], cursor?: KvWrite): Promise<void> {
    const items = events
      .filter((event) => {
        if (isValidRemoteEvent(event)) return true;
        log.warn("malformed event from a connector skipped", {
          platform: login.platform,
          event: preview(event),
        });
        return false;
      })
      .map((event) => ({
        queueKey: InboundBridge.queueKey(login.platform, event),
        kind: "remote" as const,
        payload: { platform: login.platform, loginId: login.id, event } satisfies RemotePayload,
      }));
    await this.queue.push(items, cursor);
  }

  /**
   * A homeserver that answers 5xx to one event may be down altogether (behind a proxy that
   * says 502, or restarting): it is, when it does not answer a plain request either.
   */
  private async homeserverDown(err: unknown): Promise<boolean> {
    if (!(err instanceof MatrixError) || err.status < 500 || !this.homeserverProbe) return false;
    await this.homeserverProbe.checkNow();
    return this.health.status("homeserver")?.state === "down";
  }

  /** A delivery that failed for good: the people on both sides are told. */
  private async reportFailure(item: QueueItem, err: unknown): Promise<void> {
    const reason = userText(err);
    if (item.kind === "matrix") {
      const ev = item.payload;
      // An item for one linked chat names that chat's platform only.
      const target = targetOf(item.payload);
      const told = ["m.room.message", "m.sticker", "m.reaction", "m.room.redaction"];
      if (target) told.push("m.room.encrypted"); // only messages, reactions… are fanned out
      if (!isRoomEvent(ev) || !told.includes(ev.type)) return;
      const portals = target ? [target] : await this.store.getPortalsByRoom(ev.room_id);
      for (const p of portals) this.metrics.failures.inc({ platform: p.platform, direction: "out" });
      const where = [...new Set(portals.map((p) => p.platform))].join(", ") || "the platform";
      await this.outbound.notice(ev.room_id, `⚠️ Could not deliver this to ${where}: ${reason}.`, ev.event_id);
      return;
    }
    const { platform, loginId, event } = item.payload as RemotePayload;
    this.metrics.failures.inc({ platform, direction: "in" });
    // A profile change (no room and no chat to tell) or a backfill (no one message to name).
    if (!event?.chat) return;
    const portal = await this.store.getPortal(platform, chatKey(event.chat));
    if (portal) {
      await this.outbound
        .notice(
          portal.roomId,
          `⚠️ A ${platform} message from ${event.sender.id} could not be bridged: ${reason}.`,
        )
        .catch((e: unknown) => log.warn("could not tell the room about a failure", { err: String(e) }));
    }
    const entry = this.registry.client(loginId);
    if (entry && event.kind === "message") {
      await entry.client
        .sendMessage(portal ? chatRefOf(portal) : event.chat, {
          sender: { mxid: this.bot.userId, displayName: this.opts.config.bridge.bot.displayname },
          text: `⚠️ Your message could not be delivered to Matrix (${reason}).`,
          msgtype: "notice",
          replyTo: event.id,
        })
        .catch((e: unknown) => log.warn("could not tell the platform about a failure", { err: String(e) }));
    }
  }

  /** The transaction id of the last homeserver ping (MSC2659), for `doctor`. */
  get lastPingId(): string | undefined {
    return this.lastPing;
  }

  /**
   * Stops everything in order, each step bounded (a dead database, a homeserver that does not
   * answer, a hanging connector or delivery cannot hold it up) and the whole within
   * STOP_BUDGET_MS. What is not delivered stays queued in the database for the next start.
   */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.ready = false;
    const deadline = Date.now() + STOP_BUDGET_MS;
    const step = async (name: string, ms: number, fn: () => unknown): Promise<void> => {
      const budget = Math.min(ms, deadline - Date.now());
      if (budget <= 0) {
        log.warn("no time left to stop this part", { step: name });
        return;
      }
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<"late">((resolve) => {
        timer = setTimeout(() => resolve("late"), budget);
      });
      try {
        const outcome = await Promise.race([Promise.resolve().then(fn), late]);
        if (outcome === "late")
          log.warn("stopping this part took too long; moving on", { step: name, ms: budget });
      } catch (err) {
        log.warn("stopping this part failed", { step: name, err });
      } finally {
        clearTimeout(timer);
      }
    };
    this.unwatchHomeserver?.();
    this.homeserverProbe?.stop();
    this.intake?.stop();
    await step("http listener", 1_000, () => this.http?.close());
    await step("catch-up", 1_000, () => this.catchUp?.stop());
    this.disappearing?.stop();
    await step("delivery queue", 2_500, () => this.queue?.stop(2_000));
    await step("ai", 1_000, () => this.ai?.stop());
    await step("encryption", 1_000, () => this.encryption?.stop());
    this.stateNotices?.stop();
    await step("connectors", 2_000, () => this.registry?.stop());
    await step("policy lists", 1_000, () => this.policy?.stop());
    await step("transaction pruner", 500, () => this.txnPruner?.stop());
    await step("moderation sweeps", 500, () => this.moderation?.stop());
    await step("database", 2_000, () => this.db?.close());
    log.info("bridge stopped");
  }
}

/** How long Bridge.stop() may take in all; the CLI exits regardless a little later. */
const STOP_BUDGET_MS = 8_000;

import { createHash } from "node:crypto";
import path from "node:path";
import { BUILTIN_PLATFORMS, builtinPlatform } from "../../bridges/builtin";
import { ghostUserId, remoteIdFromGhost } from "../config/Config";
import type { BridgeConfig } from "../config/types";
import { Logger } from "../log/Logger";
import type { Store } from "../store/Store";
import type { KvWrite, LoginRow } from "../store/types";
import {
  ConnectionState,
  type ConnectorContext,
  type LoginRef,
  type NetworkClient,
  type NetworkConnector,
  type RemoteEvent,
} from "./connector";

const log = new Logger("ConnectorRegistry");

type ConnectorModule = { createConnector(name: string): NetworkConnector };

export interface LoginState {
  login: LoginRef;
  state: ConnectionState;
  message?: string;
}

/**
 * The context a connector is initialised with: its config section, a logger, its own
 * key/value namespace, and ghost id helpers for its platform. `hooks` route what it reports.
 */
export function connectorContext(
  config: BridgeConfig,
  name: string,
  store: Pick<Store, "query" | "kvGet" | "kvSet">,
  hooks: Pick<ConnectorContext, "emit" | "emitAll" | "stateChanged">,
): ConnectorContext {
  return {
    config: (config.platforms[name] ?? {}) as Record<string, unknown>,
    log: new Logger(`connector:${name}`),
    store: {
      query: (sql, params) => store.query(sql, params),
      kvGet: (key) => store.kvGet(name, key),
      kvSet: (key, value) => store.kvSet(name, key, value),
    },
    ...hooks,
    ghostUserId: (remoteId) => ghostUserId(config, name, remoteId),
    remoteUserIdOf: (mxid) => {
      const parsed = remoteIdFromGhost(config, mxid);
      return parsed?.platform === name ? parsed.remoteId : undefined;
    },
  };
}

/**
 * Loads a connector: `platforms.<name>.module` (a path) wins over the built-in one
 * (bridges/builtin.ts, loaded only when enabled: a platform's client library costs start-up
 * time and memory only when it is used).
 */
export function loadConnector(name: string, modulePath?: string): NetworkConnector {
  if (modulePath) {
    // biome-ignore lint/suspicious/noExplicitAny: a module loaded at run time is checked below
    const mod = require(path.resolve(modulePath)) as any as Partial<ConnectorModule>;
    if (typeof mod.createConnector !== "function") {
      throw new Error(`platforms.${name}.module: ${modulePath} does not export createConnector(name)`);
    }
    return mod.createConnector(name);
  }
  const builtin = builtinPlatform(name);
  if (!builtin) {
    const known = BUILTIN_PLATFORMS.map((p) => p.name).join(", ");
    throw new Error(
      `platforms.${name}: no built-in connector for '${name}' (built in: ${known}); set enabled: false or give module: <path>`,
    );
  }
  return builtin.load();
}

/** A stable login id: the same account of the same owner always maps to the same row. */
export function loginId(platform: string, login: Omit<LoginRef, "id">): string {
  const h = createHash("sha256").update(
    `${platform}\u0000${login.ownerMxid}\u0000${login.remoteId ?? "config"}`,
  );
  return `${platform}-${h.digest("hex").slice(0, 16)}`;
}

/**
 * Starts the connectors enabled in config, and one client per stored login. Emitted events
 * go to `onEvent`, which resolves once they are durably queued.
 */
export class ConnectorRegistry {
  readonly connectors = new Map<string, NetworkConnector>();
  private readonly clients = new Map<string, { login: LoginRef; client: NetworkClient }>();
  private readonly states = new Map<string, LoginState>();
  /** Logins from config (bot tokens an admin configured): shared by design, see {@link isShared}. */
  private readonly shared = new Set<string>();

  constructor(
    private readonly opts: {
      config: BridgeConfig;
      store: Store;
      onEvent(login: LoginRef, event: RemoteEvent): Promise<void>;
      /** Several events queued in one write, with the connector's key/value entry `cursor`. */
      onEvents(login: LoginRef, events: RemoteEvent[], cursor?: KvWrite): Promise<void>;
      extra?: NetworkConnector[];
      /** Sees every change of a login's state (the owner is told in the management room). */
      onStateChange?(login: LoginRef, state: ConnectionState, message?: string): void;
    },
  ) {}

  /** Creates and initialises the enabled connectors (no platform IO yet). */
  async init(): Promise<void> {
    const { config, store } = this.opts;
    const list: NetworkConnector[] = [...(this.opts.extra ?? [])];
    for (const [name, section] of Object.entries(config.platforms)) {
      if (!section.enabled || list.some((c) => c.name === name)) continue;
      list.push(loadConnector(name, typeof section.module === "string" ? section.module : undefined));
    }
    for (const connector of list) {
      const name = connector.name;
      await connector.init(
        connectorContext(config, name, store, {
          emit: (login, event) => this.opts.onEvent(login, event),
          emitAll: (login, events, cursor) =>
            this.opts.onEvents(login, events, cursor && { namespace: name, ...cursor }),
          stateChanged: (login, state, message) => this.setState(login, state, message),
        }),
      );
      this.connectors.set(name, connector);
    }
  }

  /** Starts connectors and connects every login (the config ones are stored first). */
  async start(): Promise<void> {
    const { store } = this.opts;
    for (const [name, connector] of this.connectors) {
      await connector.start();
      for (const l of connector.configLogins?.() ?? []) {
        const id = loginId(name, l);
        this.shared.add(id);
        const existing = await store.getLogin(id);
        await store.upsertLogin({ ...l, id, state: existing?.state });
      }
      for (const row of await store.listLogins(name)) await this.connect(row);
    }
  }

  async connect(row: LoginRow): Promise<NetworkClient> {
    const connector = this.connectors.get(row.platform);
    if (!connector) throw new Error(`no connector for ${row.platform}`);
    const login: LoginRef = {
      id: row.id,
      platform: row.platform,
      ownerMxid: row.ownerMxid,
      remoteId: row.remoteId,
      credentials: row.credentials,
    };
    const client = connector.clientFor(login);
    this.clients.set(login.id, { login, client });
    this.setState(login, ConnectionState.Connecting);
    try {
      await client.connect();
      if (this.states.get(login.id)?.state === ConnectionState.Connecting)
        this.setState(login, client.state());
    } catch (err) {
      // A platform that is down must not stop the bridge; the client reports its own state.
      log.error("login could not connect", { platform: row.platform, login: row.id, err: String(err) });
      this.setState(login, client.state(), String(err));
    }
    return client;
  }

  /** Stores a new login (from a login command) and connects it. */
  async addLogin(login: Omit<LoginRef, "id">): Promise<LoginRef> {
    const row = { ...login, id: loginId(login.platform, login) };
    const old = this.clients.get(row.id);
    if (old) await old.client.disconnect().catch(() => undefined);
    await this.opts.store.upsertLogin(row);
    await this.connect(row);
    return row;
  }

  /** Disconnects and forgets a login (logging it out on the platform where the client can). */
  async removeLogin(id: string): Promise<void> {
    const entry = this.clients.get(id);
    this.clients.delete(id);
    this.states.delete(id);
    if (entry?.client.logout) {
      await entry.client
        .logout()
        .catch((err: unknown) => log.warn("platform logout failed", { login: id, err: String(err) }));
    }
    await entry?.client.disconnect().catch(() => undefined);
    await this.opts.store.deleteLogin(id);
  }

  logins(): LoginRef[] {
    return [...this.clients.values()].map((e) => e.login);
  }

  client(loginId: string): { login: LoginRef; client: NetworkClient } | undefined {
    return this.clients.get(loginId);
  }

  /**
   * Whether a login may act for Matrix users other than its owner: a bot token an admin put in
   * the config is the bridge's shared bot. Every other login (a personal WhatsApp account, a bot
   * token someone logged in with) is its owner's alone.
   */
  isShared(loginId: string): boolean {
    return this.shared.has(loginId);
  }

  /**
   * A login of `platform` that may act for `mxid`: their own first, else (with `mxid` omitted
   * or `orShared`) the platform's shared bot. Never another user's own login.
   */
  clientForPlatform(
    platform: string,
    mxid?: string,
    orShared = mxid === undefined,
  ): { login: LoginRef; client: NetworkClient } | undefined {
    let shared: { login: LoginRef; client: NetworkClient } | undefined;
    for (const entry of this.clients.values()) {
      if (entry.login.platform !== platform) continue;
      if (mxid !== undefined && entry.login.ownerMxid === mxid) return entry;
      if (orShared && this.shared.has(entry.login.id)) shared ??= entry;
    }
    return shared;
  }

  loginStates(): LoginState[] {
    return [...this.states.values()];
  }

  private setState(login: LoginRef, state: ConnectionState, message?: string): void {
    const prev = this.states.get(login.id);
    this.states.set(login.id, { login, state, message });
    if (prev?.state !== state) {
      log.info("login state", { platform: login.platform, login: login.id, state });
      this.opts.onStateChange?.(login, state, message);
    }
  }

  async stop(): Promise<void> {
    for (const { client } of this.clients.values()) {
      await client.disconnect().catch((err: unknown) => log.warn("disconnect failed", { err: String(err) }));
    }
    for (const c of this.connectors.values()) {
      await c.stop().catch((err: unknown) => log.warn("connector stop failed", { err: String(err) }));
    }
  }
}

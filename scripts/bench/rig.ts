/**
 * What every Synapse-backed benchmark shares: one Synapse loading two registrations (the
 * bridge's and the probe's), the Telegram stand-in driven by the real grammy client inside the
 * bridge, the bridge itself as a child process, and the Matrix users and rooms under test.
 */
import { randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { dump } from "js-yaml";
import { TelegramServer } from "../../spec/standins/telegram/TelegramServer";
import { configFromObject } from "../../src/config/Config";
import { buildRegistration, writeRegistration } from "../../src/config/registration";
import { freePort } from "../lib/ports";
import { type RegisteredUser, SynapseServer } from "../lib/synapse";
import { BenchBridge, type Entry } from "./BenchBridge";
import { ProbeAppservice } from "./ProbeAppservice";
import { SyncWatcher } from "./SyncWatcher";

export const DOMAIN = "localhost";
export const TG_USER = 4242;
/** Chat id of the i-th benchmark Telegram group. */
export const chatId = (i: number): number => -1_001_000_000_000 - i;

export function progress(line: string): void {
  process.stderr.write(`[bench] ${line}\n`);
}

/** A bridge config for the benchmark: Telegram only, no AI, defaults elsewhere. */
export function bridgeConfig(o: {
  homeserverUrl: string;
  port: number;
  dataDir: string;
  registration: string;
  tg: TelegramServer;
  owner: string;
}): Record<string, unknown> {
  return {
    homeserver: { url: o.homeserverUrl, domain: DOMAIN },
    appservice: {
      id: "clawbridge",
      url: `http://127.0.0.1:${o.port}`,
      bind_address: "127.0.0.1",
      port: o.port,
      registration: o.registration,
    },
    bridge: { permissions: { [o.owner]: "admin", "*": "relay" } },
    ai: { enabled: false },
    database: { data_dir: o.dataDir },
    logging: { level: "info", format: "json" },
    platforms: {
      telegram: {
        enabled: true,
        bot_token: o.tg.token,
        owner: o.owner,
        api_root: o.tg.url,
        poll_timeout_seconds: 30,
      },
    },
  };
}

/** A Telegram stand-in whose bot id matches its token, with the benchmark user in it. */
export async function telegramStandIn(): Promise<TelegramServer> {
  const botId = 7_000_000 + Math.floor(Math.random() * 999_999);
  const tg = await TelegramServer.start({
    token: `${botId}:${randomBytes(24).toString("base64url")}`,
    botUser: { id: botId, is_bot: true, first_name: "Bridge", username: "clawbridge_bench_bot" },
  });
  tg.addUser({ id: TG_USER, first_name: "Bench", last_name: "User" });
  return tg;
}

/** Calls the client-server API as a registered user. */
export async function cs<T = Record<string, unknown>>(
  hs: string,
  token: string,
  method: string,
  p: string,
  body?: unknown,
): Promise<T> {
  const res = await fetch(`${hs}/_matrix/client/v3${p}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${text.slice(0, 200)}`);
  return (text ? JSON.parse(text) : {}) as T;
}

let txnSeq = 0;
/** Sends a text message as `user`; resolves with the event id. */
export async function sendText(
  hs: string,
  user: RegisteredUser,
  roomId: string,
  body: string,
): Promise<string> {
  const txn = `b${Date.now()}-${++txnSeq}`;
  const p = `/rooms/${encodeURIComponent(roomId)}/send/m.room.message/${txn}`;
  return (await cs<{ event_id: string }>(hs, user.accessToken, "PUT", p, { msgtype: "m.text", body }))
    .event_id;
}

export interface Rig {
  dir: string;
  synapse: SynapseServer;
  synapseVersion: string;
  tg: TelegramServer;
  probe: ProbeAppservice;
  alice: RegisteredUser;
  watcherUser: RegisteredUser;
  watcher: SyncWatcher;
  bridge: BenchBridge;
  /** First start of the bridge (initdb of its embedded PostgreSQL included). */
  firstStartMs: number;
  configPath: string;
  registrationPath: string;
  bridgeUrl: string;
  dataDir: string;
  entry: Entry;
  nodeArgs: string[];
  /** Portal rooms by benchmark chat index. */
  portals: Map<number, string>;
  /**
   * Restarts the bridge. `config`: top-level sections put over the rig's own config for this
   * process (the next restart without it writes the rig's own back). Not profiled unless
   * `nodeArgs` asks for it.
   */
  restartBridge(
    entry?: Entry,
    opts?: { config?: Record<string, unknown>; nodeArgs?: string[] },
  ): Promise<BenchBridge>;
  stop(): Promise<void>;
}

export async function startRig(o: { dir: string; entry: Entry; nodeArgs: string[] }): Promise<Rig> {
  const dir = o.dir;
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o755);
  const bridgePort = await freePort();
  const probe = await ProbeAppservice.start(await freePort());
  const tg = await telegramStandIn();
  const owner = `@alice:${DOMAIN}`;
  const registrationPath = path.join(dir, "registration.yaml");
  const dataDir = path.join(dir, "bridge-data");
  const configObj = bridgeConfig({
    homeserverUrl: "http://127.0.0.1:1", // rewritten below once Synapse has a port
    port: bridgePort,
    dataDir,
    registration: registrationPath,
    tg,
    owner,
  });
  writeRegistration(registrationPath, buildRegistration(configFromObject(configObj)));
  const probeRegistration = path.join(dir, "probe-registration.yaml");
  probe.writeRegistration(probeRegistration);
  progress("starting Synapse");
  const synapse = await SynapseServer.start({
    dir: path.join(dir, "synapse"),
    registrationFiles: [registrationPath, probeRegistration],
  });
  const versionRes = await fetch(`${synapse.url}/_matrix/federation/v1/version`).catch(() => undefined);
  const synapseVersion =
    ((await versionRes?.json().catch(() => undefined)) as { server?: { version?: string } } | undefined)
      ?.server?.version ?? "1.163";
  (configObj.homeserver as { url: string }).url = synapse.url;
  const configPath = path.join(dir, "config.yaml");
  writeFileSync(configPath, dump(configObj), { mode: 0o600 });
  const alice = await synapse.registerUser("alice");
  const watcherUser = await synapse.registerUser("watcher");
  const bridgeUrl = `http://127.0.0.1:${bridgePort}`;
  let logN = 0;
  const start = (entry: Entry, nodeArgs: string[] = []) =>
    BenchBridge.start({
      entry,
      configPath,
      registrationPath,
      baseUrl: bridgeUrl,
      logPath: path.join(dir, `bridge-${++logN}.log`),
      nodeArgs,
    });
  progress(`starting the bridge (${o.entry})`);
  const bridge = await start(o.entry, o.nodeArgs);
  const watcher = new SyncWatcher(synapse.url, watcherUser.accessToken);
  await watcher.start();
  const rig: Rig = {
    dir,
    synapse,
    synapseVersion,
    tg,
    probe,
    alice,
    watcherUser,
    watcher,
    bridge,
    firstStartMs: bridge.readyMs,
    configPath,
    registrationPath,
    bridgeUrl,
    dataDir,
    entry: o.entry,
    nodeArgs: o.nodeArgs,
    portals: new Map(),
    async restartBridge(entry = o.entry, opts = {}) {
      await rig.bridge.stop();
      writeFileSync(configPath, dump({ ...configObj, ...opts.config }), { mode: 0o600 });
      rig.bridge = await start(entry, opts.nodeArgs);
      return rig.bridge;
    },
    async stop() {
      await watcher.stop();
      await rig.bridge.stop();
      await synapse.stop();
      await tg.close();
      await probe.close();
    },
  };
  return rig;
}

type InviteState = { invite_state?: { events?: Array<{ type: string; content: { alias?: string } }> } };

/**
 * Invites of `user` arriving from now on. Incremental syncs: Synapse caches the answer to a
 * repeated identical /sync for minutes, so polling without `since` would never see a new invite.
 */
class InviteFeed {
  private since?: string;
  readonly pending = new Map<string, InviteState>();

  constructor(
    private readonly hs: string,
    private readonly user: RegisteredUser,
  ) {}

  async poll(timeoutMs: number): Promise<void> {
    const q = new URLSearchParams({ timeout: String(timeoutMs) });
    if (this.since) q.set("since", this.since);
    const body = await cs<{ next_batch: string; rooms?: { invite?: Record<string, InviteState> } }>(
      this.hs,
      this.user.accessToken,
      "GET",
      `/sync?${q}`,
    );
    this.since = body.next_batch;
    for (const [roomId, inv] of Object.entries(body.rooms?.invite ?? {})) this.pending.set(roomId, inv);
  }
}

/**
 * Makes portals for chat indexes `from..to-1`: one Telegram message each creates the room,
 * alice (the login's owner) joins it and invites the watcher and the probe, who join.
 */
export async function ensurePortals(rig: Rig, from: number, to: number): Promise<void> {
  const hs = rig.synapse.url;
  const wanted = new Map<string, number>();
  for (let i = from; i < to; i++) {
    if (rig.portals.has(i)) continue;
    rig.tg.addChat({ id: chatId(i), type: "supergroup", title: `Bench group ${i}` });
    rig.tg.injectMessage({ chat: chatId(i), from: TG_USER, text: `setup ${i}` });
    wanted.set(`#_telegram_${chatId(i)}:${DOMAIN}`, i);
  }
  const deadline = Date.now() + 120_000;
  const feed = new InviteFeed(hs, rig.alice);
  while (wanted.size > 0) {
    if (Date.now() > deadline)
      throw new Error(`portals not created in time: ${[...wanted.keys()].join(", ")}`);
    await feed.poll(1000);
    for (const [roomId, inv] of feed.pending) {
      const alias = inv.invite_state?.events?.find((e) => e.type === "m.room.canonical_alias")?.content.alias;
      const i = alias === undefined ? undefined : wanted.get(alias);
      if (i === undefined) continue;
      await joinAll(rig, roomId);
      rig.portals.set(i, roomId);
      wanted.delete(alias!);
      feed.pending.delete(roomId);
    }
  }
}

/** alice joins `roomId`, invites the watcher and the probe, and both join. */
export async function joinAll(rig: Rig, roomId: string, aliceJoins = true): Promise<void> {
  const hs = rig.synapse.url;
  const r = encodeURIComponent(roomId);
  if (aliceJoins) await cs(hs, rig.alice.accessToken, "POST", `/join/${r}`, {});
  await cs(hs, rig.alice.accessToken, "POST", `/rooms/${r}/invite`, { user_id: rig.watcherUser.userId });
  await cs(hs, rig.alice.accessToken, "POST", `/rooms/${r}/invite`, { user_id: rig.probe.userId });
  await cs(hs, rig.watcherUser.accessToken, "POST", `/join/${r}`, {});
  await rig.probe.join(hs, roomId);
}

/** Plain rooms (no bridge) made by alice, with the watcher and the probe in them. */
export async function directRooms(rig: Rig, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const { room_id } = await cs<{ room_id: string }>(
      rig.synapse.url,
      rig.alice.accessToken,
      "POST",
      "/createRoom",
      {
        preset: "private_chat",
        name: `direct ${i}`,
      },
    );
    await joinAll(rig, room_id, false);
    out.push(room_id);
  }
  return out;
}

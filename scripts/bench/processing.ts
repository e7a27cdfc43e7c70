/**
 * Bridge-side processing without Synapse. The bridge runs against {@link FakeHomeserver} (every
 * call answered at once) with 10k portals and 100k ghosts seeded in its database, and the
 * benchmark pushes synthetic appservice transactions (hs_token, 50 events each, one at a time
 * as Synapse does) at its HTTP port. Measured per mix, from the first PUT until the delivery
 * queue is empty (and, for relayed messages, the Telegram stand-in has every sendMessage):
 * wall-clock events/s and events per CPU-second of the bridge process ("per core"), with the
 * CPU of its embedded PostgreSQL shown apart.
 *
 * Mixes: `echo` — ghosts' own messages coming back (what Synapse pushes for every bridged
 * message), spread over all 10k portal rooms; `relay` — Matrix users' messages in 100 portals,
 * each relayed to Telegram through grammy; `inbound` — Telegram users' messages in the same 100
 * portals (the stand-in hands them to grammy's getUpdates), each sent by its ghost to the fake
 * homeserver.
 */
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { dump } from "js-yaml";
import { configFromObject } from "../../src/config/Config";
import { buildRegistration, writeRegistration } from "../../src/config/registration";
import { freePort } from "../lib/ports";
import { BenchBridge, type Entry } from "./BenchBridge";
import { FakeHomeserver } from "./FakeHomeserver";
import { PgCounter } from "./pgCounter";
import { newestProfile, type ProfileSummary, summarizeProfile } from "./profile";
import { bridgeConfig, DOMAIN, progress, TG_USER, telegramStandIn } from "./rig";
import { seedDatabase, seededChat, seededGhost, seededRoom } from "./seed";

export interface MixResult {
  mix: string;
  /** Repetition (0 first); relay and inbound run `repeat` times, echo once (its rooms start cold). */
  rep: number;
  events: number;
  wallMs: number;
  eventsPerSec: number;
  bridgeCpuS: number;
  postgresCpuS: number;
  eventsPerCoreSec: number;
  eventsPerCoreSecWithPostgres: number;
  /** PostgreSQL write transactions (commits) per event. */
  pgWritesPerEvent: number;
  /** Rows inserted, updated or deleted per event, by table (approximate: see PgCounter.rowWrites). */
  rowsPerEventByTable: Record<string, number>;
}

export interface ProcessingResult {
  portals: number;
  ghosts: number;
  seedMs: number;
  readyMs: number;
  rssIdleMiB: number;
  rssAfterMiB: number;
  /** PSS of the bridge and of its embedded PostgreSQL (all the cluster's processes), MiB. */
  pssIdle: { bridge: number; postgres: number };
  /** After the first echo and relay mixes: every portal looked up and cached. */
  pssAfter: { bridge: number; postgres: number };
  heapIdleMiB?: number;
  heapAfterMiB?: number;
  /** After the inbound mix, whose 5,000 updates were all pending at once. */
  rssAfterBurstMiB: number;
  /**
   * After a full garbage collection (forced by a heap snapshot) at the end: the heap is what the
   * bridge keeps; the RSS then includes the snapshot's own memory and says little.
   */
  rssAfterGcMiB?: number;
  heapAfterGcMiB?: number;
  mixes: MixResult[];
  homeserverCalls: Record<string, number>;
  profile?: ProfileSummary & { file: string };
}

const TXN_EVENTS = 50;
const OWNER = `@alice:${DOMAIN}`;

function echoEvent(seq: number, portals: number): Record<string, unknown> {
  const k = seq % portals;
  return {
    event_id: `$echo${seq}`,
    type: "m.room.message",
    sender: seededGhost(k), // ghost g sits in room g % portals
    room_id: seededRoom(k),
    origin_server_ts: Date.now(),
    content: { msgtype: "m.text", body: `bench:pe:${seq} echo`, "com.clawbridge.remote_id": `${seq}#0` },
  };
}

function relayEvent(seq: number, rooms: number, rep: number): Record<string, unknown> {
  return {
    event_id: `$relay${rep}-${seq}`,
    type: "m.room.message",
    sender: OWNER,
    room_id: seededRoom(seq % rooms),
    origin_server_ts: Date.now(),
    content: { msgtype: "m.text", body: `bench:pr:${seq} relayed` },
  };
}

async function push(bridgeUrl: string, hsToken: string, txnId: string, events: unknown[]): Promise<void> {
  const res = await fetch(`${bridgeUrl}/_matrix/app/v1/transactions/${txnId}`, {
    method: "PUT",
    headers: { authorization: `Bearer ${hsToken}`, "content-type": "application/json" },
    body: JSON.stringify({ events }),
  });
  if (!res.ok) throw new Error(`transaction ${txnId}: ${res.status} ${await res.text()}`);
}

export async function runProcessing(o: {
  dir: string;
  entry: Entry;
  profile: boolean;
  portals: number;
  ghosts: number;
  echoEvents: number;
  relayEvents: number;
  relayRooms: number;
  inboundEvents: number;
  repeat: number;
}): Promise<ProcessingResult> {
  const dir = path.join(o.dir, "processing");
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o755);
  const hs = await FakeHomeserver.start();
  const tg = await telegramStandIn();
  for (let k = 0; k < o.relayRooms; k++)
    tg.addChat({ id: seededChat(k), type: "supergroup", title: `Seeded ${k}` });
  const port = await freePort();
  const dataDir = path.join(dir, "data");
  const registrationPath = path.join(dir, "registration.yaml");
  const cfg = bridgeConfig({
    homeserverUrl: hs.url,
    port,
    dataDir,
    registration: registrationPath,
    tg,
    owner: OWNER,
  });
  const registration = buildRegistration(configFromObject(cfg));
  writeRegistration(registrationPath, registration);
  const configPath = path.join(dir, "config.yaml");
  writeFileSync(configPath, dump(cfg), { mode: 0o600 });
  progress(`processing: seeding ${o.portals} portals and ${o.ghosts} ghosts`);
  const seed = await seedDatabase({
    dataDir,
    owner: OWNER,
    botToken: tg.token,
    portals: o.portals,
    ghosts: o.ghosts,
  });
  const profDir = path.join(dir, "cpuprofile");
  const bridge = await BenchBridge.start({
    entry: o.entry,
    configPath,
    registrationPath,
    baseUrl: `http://127.0.0.1:${port}`,
    logPath: path.join(dir, "bridge.log"),
    nodeArgs: [
      "--heapsnapshot-signal=SIGUSR2",
      ...(o.profile ? ["--cpu-prof", `--cpu-prof-dir=${profDir}`] : []),
    ],
  });
  const mixes: MixResult[] = [];
  let pgc!: PgCounter;
  let rssIdle = 0;
  let rssAfter = 0;
  let pssIdle = { bridge: 0, postgres: 0 };
  let pssAfter = { bridge: 0, postgres: 0 };
  let heapIdle: number | undefined;
  let heapAfter: number | undefined;
  let rssAfterBurst = 0;
  let rssAfterGc: number | undefined;
  let heapAfterGc: number | undefined;
  try {
    await new Promise((r) => setTimeout(r, 3000));
    rssIdle = bridge.rss() ?? 0;
    pssIdle = bridge.pss();
    pgc = await PgCounter.open(dataDir);
    heapIdle = await bridge.heapUsedMiB();
    let txn = 0;
    const transactions =
      (make: (seq: number) => Record<string, unknown>, n: number, mix: string) => async () => {
        for (let seq = 0; seq < n; seq += TXN_EVENTS) {
          const events = [];
          for (let i = seq; i < Math.min(n, seq + TXN_EVENTS); i++) events.push(make(i));
          await push(bridge.baseUrl, registration.hs_token, `bench-${mix}-${++txn}`, events);
        }
      };
    const run = async (
      mix: string,
      rep: number,
      n: number,
      feed: () => Promise<void>,
      done: () => boolean,
    ): Promise<void> => {
      await new Promise((r) => setTimeout(r, 1100)); // statistics of the last mix reported
      const rows0 = await pgc.rowWrites();
      const cpu0 = bridge.cpu();
      const x0 = await pgc.read();
      const t0 = performance.now();
      await feed();
      const deadline = Date.now() + 120_000;
      // The stand-in first (costs the bridge nothing), then the bridge's queue, polled sparingly.
      while (!done()) {
        if (Date.now() > deadline) throw new Error(`processing ${mix}: not done within 120 s`);
        await new Promise((r) => setTimeout(r, 10));
      }
      await bridge.drained(Math.max(1000, deadline - Date.now()));
      const wallMs = performance.now() - t0;
      const cpu1 = bridge.cpu();
      const writes = await pgc.since(x0);
      await new Promise((r) => setTimeout(r, 1100));
      const rows1 = await pgc.rowWrites();
      const rowsPerEventByTable: Record<string, number> = {};
      for (const [t, v] of Object.entries(rows1)) {
        const d = v - (rows0[t] ?? 0);
        if (d > 0) rowsPerEventByTable[t] = Number((d / n).toFixed(3));
      }
      const bridgeCpuS = cpu1.bridge - cpu0.bridge;
      const postgresCpuS = cpu1.children - cpu0.children;
      const result: MixResult = {
        mix,
        rep,
        events: n,
        wallMs,
        eventsPerSec: n / (wallMs / 1000),
        bridgeCpuS,
        postgresCpuS,
        eventsPerCoreSec: bridgeCpuS > 0 ? n / bridgeCpuS : Number.NaN,
        eventsPerCoreSecWithPostgres: n / (bridgeCpuS + postgresCpuS),
        pgWritesPerEvent: writes / n,
        rowsPerEventByTable,
      };
      mixes.push(result);
      progress(
        `processing ${mix}${rep ? ` (${rep + 1})` : ""}: ${n} events in ${(wallMs / 1000).toFixed(2)} s, bridge CPU ${bridgeCpuS.toFixed(2)} s, PostgreSQL CPU ${postgresCpuS.toFixed(2)} s`,
      );
    };
    await run(
      "echo",
      0,
      o.echoEvents,
      transactions((s) => echoEvent(s, o.portals), o.echoEvents, "echo"),
      () => true,
    );
    const sends = () => tg.calls.filter((c) => c.method === "sendMessage" && c.result !== undefined).length;
    // Platform → Matrix: Telegram messages in the same portals, sent by their ghost to the fake homeserver.
    const ghostSends = () => hs.calls.get("PUT send") ?? 0;
    for (let rep = 0; rep < o.repeat; rep++) {
      const relayed0 = sends();
      await run(
        "relay",
        rep,
        o.relayEvents,
        transactions((s) => relayEvent(s, o.relayRooms, rep), o.relayEvents, `relay${rep}`),
        () => sends() - relayed0 >= o.relayEvents,
      );
      if (rep === 0) {
        rssAfter = bridge.rss() ?? 0;
        pssAfter = bridge.pss();
        heapAfter = await bridge.heapUsedMiB();
      }
      const sent0 = ghostSends();
      await run(
        "inbound",
        rep,
        o.inboundEvents,
        async () => {
          for (let i = 0; i < o.inboundEvents; i++)
            tg.injectMessage({
              chat: seededChat(i % o.relayRooms),
              from: TG_USER,
              text: `bench:pi${rep}:${i} inbound`,
            });
        },
        () => ghostSends() - sent0 >= o.inboundEvents,
      );
    }
    // All 5,000 were handed out at once: the bridge held them in memory together.
    rssAfterBurst = bridge.rss() ?? 0;
    // A heap snapshot starts with a full garbage collection: what is left is what the bridge keeps.
    const snap = await bridge.heapSnapshot(60_000);
    if (snap) {
      rssAfterGc = bridge.rss();
      heapAfterGc = await bridge.heapUsedMiB();
    }
  } finally {
    await pgc?.close().catch(() => undefined);
    await bridge.stop();
    await tg.close();
    await hs.close();
  }
  const prof = o.profile ? newestProfile(profDir) : undefined;
  return {
    portals: o.portals,
    ghosts: o.ghosts,
    seedMs: seed.ms,
    readyMs: bridge.readyMs,
    rssIdleMiB: rssIdle,
    rssAfterMiB: rssAfter,
    pssIdle,
    pssAfter,
    heapIdleMiB: heapIdle,
    heapAfterMiB: heapAfter,
    rssAfterBurstMiB: rssAfterBurst,
    rssAfterGcMiB: rssAfterGc,
    heapAfterGcMiB: heapAfterGc,
    mixes,
    homeserverCalls: Object.fromEntries(hs.calls),
    profile: prof ? { file: prof.file, ...summarizeProfile(prof.profile) } : undefined,
  };
}

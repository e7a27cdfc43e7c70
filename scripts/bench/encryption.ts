/**
 * What end-to-end encryption adds to relay latency: one bridge (restarted with
 * `encryption.allow: true`, nothing else changed), one Synapse, two portals made the same way
 * (one Telegram message each), one of them then encrypted by its owner (`m.room.encryption`,
 * as a user turns it on). alice takes part with a real E2EE device
 * (spec/harness/E2eeClient.ts: the Rust crypto of matrix-sdk-crypto-wasm), which sees both
 * rooms through the same /sync loop. Rounds alternate between the portals (and which goes
 * first), so machine noise hits both alike; "added" is encrypted minus plain.
 *
 * - platform → Matrix: the stand-in hands the user's message to the bridge's getUpdates;
 *   measured until alice's client has it (decrypted, in the encrypted portal): the ghost's
 *   encryption and the client's decryption both count.
 * - Matrix → platform: alice sends (encrypted, in the encrypted portal); measured from
 *   Synapse's push of the event to the probe appservice (the same push the bridge gets) until
 *   the stand-in receives the bridge's sendMessage: the bot's decryption counts, alice's own
 *   encryption and key sharing before the send do not.
 */
import { E2eeClient, type E2eeEvent } from "../../spec/harness/E2eeClient";
import { cpuSeconds } from "./BenchBridge";
import { CallTracker } from "./latency";
import { PgCounter } from "./pgCounter";
import { chatId, ensurePortals, progress, type Rig, TG_USER } from "./rig";
import { armOrder, compare, type Summary, summarize } from "./stats";

/** Benchmark chat indexes of the two portals (clear of the latency and throughput ones). */
export const ENCRYPTED_CHAT = 900;
export const PLAIN_CHAT = 901;

/** One direction: the encrypted portal against the plain one, in ms. */
export interface EncryptionLatency {
  encrypted: Summary;
  plain: Summary;
  /** Differences of the percentiles, encrypted − plain. */
  added: { p50: number; p95: number; p99: number };
  /** Per-round differences encrypted − plain (its p50 is the "paired p50"). */
  addedPaired: Summary;
}

/** What the bridge spends per relayed message in one portal (both directions together). */
export interface PortalCost {
  cpuMsPerMessage: number;
  /** PostgreSQL write transactions (commits) per relayed message. */
  pgWritesPerMessage: number;
}

export interface EncryptionResult {
  samples: number;
  inbound: EncryptionLatency;
  /**
   * `inbound` timed only until Synapse pushes the ghost's event to the probe appservice: the
   * bridge's work and Synapse's, without alice's client (its /sync and decryption). Synapse's
   * push to appservices comes about when its /sync answers, so this is close to `inbound`
   * when the client adds little.
   */
  inboundUntilPush: EncryptionLatency;
  outbound: EncryptionLatency;
  /**
   * The unencrypted portal's platform → Matrix samples timed as the latency scenario times
   * them (until the lean watcher's /sync returns the message), to set against that scenario's
   * bridge figure: what allowing encryption costs a room that is not encrypted.
   */
  plainInboundWatcher: Summary;
  encrypted: PortalCost;
  plain: PortalCost;
  /** CPU of the bridge's PostgreSQL per relayed message, both portals together. */
  postgresCpuMsPerMessage: number;
}

type Arm = "encrypted" | "plain";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function latency(encrypted: number[], plain: number[]): EncryptionLatency {
  const c = compare(encrypted, plain);
  return { encrypted: c.a, plain: c.b, added: c.added, addedPaired: c.addedPaired };
}

/**
 * Runs the scenario on the rig's Synapse: restarts the bridge with encryption allowed (with
 * `nodeArgs`, e.g. --cpu-prof), measures, and restarts it as the rig started it.
 */
export async function runEncryption(
  rig: Rig,
  opts: { samples: number; warmup: number; nodeArgs: string[] },
): Promise<EncryptionResult> {
  progress("encryption: restarting the bridge with encryption.allow: true");
  await rig.restartBridge(rig.entry, { config: { encryption: { allow: true } }, nodeArgs: opts.nodeArgs });
  let alice: E2eeClient | undefined;
  try {
    await ensurePortals(rig, ENCRYPTED_CHAT, PLAIN_CHAT + 1);
    const rooms: Record<Arm, string> = {
      encrypted: rig.portals.get(ENCRYPTED_CHAT)!,
      plain: rig.portals.get(PLAIN_CHAT)!,
    };
    const chats: Record<Arm, number> = { encrypted: ENCRYPTED_CHAT, plain: PLAIN_CHAT };
    progress("encryption: alice logs in with an E2EE device and encrypts one of the portals");
    alice = await E2eeClient.login(rig.synapse.url, rig.alice.userId, rig.alice.password, {
      pollTimeoutMs: 30_000,
    });
    await alice.enableEncryption(rooms.encrypted);
    const client = alice;
    const tracker = new CallTracker(rig.tg);

    /** Telegram → Matrix: inject, until alice's client has it; checks it came as it should. */
    const toMatrix = async (
      arm: Arm,
      key: string,
    ): Promise<{ ms: number; encrypted: boolean; watcherMs?: number; untilPushMs: number }> => {
      let at = 0;
      const wall0 = Date.now();
      const t0 = performance.now();
      rig.tg.injectMessage({ chat: chatId(chats[arm]), from: TG_USER, text: `bench:${key} bridged` });
      // Timed inside the predicate: it runs when the event enters alice's timeline.
      const ev: E2eeEvent = await client.waitForEvent(
        rooms[arm],
        (e) => {
          const hit =
            e.type === "m.room.message" &&
            typeof e.content.body === "string" &&
            e.content.body.startsWith(`bench:${key} `);
          if (hit) at = performance.now();
          return hit;
        },
        30_000,
      );
      // The watcher (no E2EE device) reads the unencrypted portal only.
      const watcherMs = arm === "plain" ? (await rig.watcher.waitFor(key)) - t0 : undefined;
      // The bridged message goes back to the bridge (its echo) as to the probe: wait for it too.
      const pushed = await rig.probe.waitForEvent(ev.eventId);
      return { ms: at - t0, encrypted: ev.encrypted, watcherMs, untilPushMs: pushed - wall0 };
    };

    /** Matrix → Telegram: alice sends; from Synapse's push until the stand-in has the relay. */
    const toPlatform = async (arm: Arm, key: string): Promise<number> => {
      const content = { msgtype: "m.text", body: `bench:${key} direct` };
      const eventId =
        arm === "encrypted"
          ? await client.sendEncrypted(rooms[arm], "m.room.message", content)
          : await client.sendPlain(rooms[arm], "m.room.message", content);
      const pushed = await rig.probe.waitForEvent(eventId);
      const relayed = await tracker.waitFor(key);
      return relayed - pushed;
    };

    // The bridge learns of the encryption from its transaction: wait until a ghost's message
    // arrives encrypted (and the room key has reached alice) before timing anything.
    for (let k = 0; ; k++) {
      if ((await toMatrix("encrypted", `enc-setup:${k}`)).encrypted) break;
      if (k >= 20) throw new Error("the bridge did not start encrypting in the encrypted portal");
      await sleep(250);
    }

    progress(`encryption: ${opts.warmup} warm-up + ${opts.samples} rounds, each: both ways in both portals`);
    const pid = rig.bridge.pid;
    const pgc = await PgCounter.open(rig.dataDir);
    const plainWatcher: number[] = [];
    const lat: Record<Arm, { in: number[]; inPush: number[]; out: number[] }> = {
      encrypted: { in: [], inPush: [], out: [] },
      plain: { in: [], inPush: [], out: [] },
    };
    const cost: Record<Arm, { cpu: number; writes: number }> = {
      encrypted: { cpu: 0, writes: 0 },
      plain: { cpu: 0, writes: 0 },
    };
    const all0 = rig.bridge.cpu();
    try {
      for (let i = 0; i < opts.warmup + opts.samples; i++) {
        const keep = i >= opts.warmup;
        for (const arm of armOrder(i, "encrypted" as Arm, "plain" as Arm)) {
          const tag = arm === "encrypted" ? "enc" : "plain";
          const cpu0 = cpuSeconds(pid) ?? 0;
          const x0 = await pgc.read();
          const out = await toPlatform(arm, `${tag}-m2p:${i}`);
          await sleep(20);
          const inb = await toMatrix(arm, `${tag}-p2m:${i}`);
          if (inb.encrypted !== (arm === "encrypted"))
            throw new Error(
              `${arm} portal: a bridged message arrived ${inb.encrypted ? "encrypted" : "in clear"}`,
            );
          await sleep(20);
          const writes = await pgc.since(x0);
          const cpu1 = cpuSeconds(pid) ?? 0;
          if (!keep) continue;
          lat[arm].out.push(out);
          lat[arm].in.push(inb.ms);
          lat[arm].inPush.push(inb.untilPushMs);
          if (inb.watcherMs !== undefined) plainWatcher.push(inb.watcherMs);
          cost[arm].cpu += cpu1 - cpu0;
          cost[arm].writes += writes;
        }
      }
    } finally {
      await pgc.close();
    }
    const all1 = rig.bridge.cpu();
    const perArm = 2 * opts.samples;
    const portalCost = (arm: Arm): PortalCost => ({
      cpuMsPerMessage: (cost[arm].cpu * 1000) / perArm,
      pgWritesPerMessage: cost[arm].writes / perArm,
    });
    return {
      samples: opts.samples,
      inbound: latency(lat.encrypted.in, lat.plain.in),
      inboundUntilPush: latency(lat.encrypted.inPush, lat.plain.inPush),
      outbound: latency(lat.encrypted.out, lat.plain.out),
      plainInboundWatcher: summarize(plainWatcher),
      encrypted: portalCost("encrypted"),
      plain: portalCost("plain"),
      postgresCpuMsPerMessage:
        ((all1.children - all0.children) * 1000) / (2 * (opts.warmup + opts.samples) * 2),
    };
  } finally {
    await alice?.stop();
    // Leave the bridge running as the rig started it (the memory scenario restarts it so).
    await rig.restartBridge(rig.entry);
  }
}

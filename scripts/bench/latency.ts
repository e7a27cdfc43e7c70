/**
 * Relay latency, one message at a time on an otherwise quiet bridge.
 *
 * - platform → Matrix: the Telegram stand-in hands a user's message to the bridge's pending
 *   getUpdates; measured until the watcher's /sync returns it. Baseline: alice sends the same
 *   kind of message with the client-server API, measured until the same /sync returns it.
 * - Matrix → platform: alice sends in the portal; measured until the stand-in receives the
 *   bridge's sendMessage. Baseline: the same event's arrival at the probe appservice, which
 *   Synapse pushes to in parallel (the homeserver's own appservice push latency).
 */
import type { TelegramServer } from "../../spec/standins/telegram/TelegramServer";
import { PgCounter } from "./pgCounter";
import { chatId, progress, type Rig, sendText, TG_USER } from "./rig";
import { MARKER } from "./SyncWatcher";
import { pairedDifferences, type Summary, summarize } from "./stats";

export interface LatencyResult {
  samples: number;
  inbound: { bridge: Summary; direct: Summary; addedPaired: Summary };
  outbound: { bridge: Summary; probe: Summary; addedPaired: Summary };
  /** CPU of the bridge process and of its PostgreSQL per relayed message (both directions). */
  cpuMsPerMessage: number;
  postgresCpuMsPerMessage: number;
  /** PostgreSQL write transactions (commits) per relayed message. */
  pgWritesPerMessage: number;
}

/** Notes when the stand-in received a sendMessage carrying each marker (its own arrival time). */
export class CallTracker {
  private index = 0;
  readonly arrived = new Map<string, number>();

  constructor(private readonly tg: TelegramServer) {}

  scan(): void {
    const calls = this.tg.calls;
    for (; this.index < calls.length; this.index++) {
      const c = calls[this.index]!;
      if (c.method !== "sendMessage") continue;
      const m = MARKER.exec(String(c.params.text ?? ""));
      if (m && !this.arrived.has(`${m[1]}:${m[2]}`)) this.arrived.set(`${m[1]}:${m[2]}`, c.time);
    }
  }

  async waitFor(key: string, timeoutMs = 30_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    while (true) {
      this.scan();
      const t = this.arrived.get(key);
      if (t !== undefined) return t;
      if (Date.now() > deadline) throw new Error(`stand-in: ${key} not received within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 2));
    }
  }
}

export async function runLatency(
  rig: Rig,
  /** `tag` tells this repetition's messages apart from earlier ones'. */
  opts: { samples: number; warmup: number; chat: number; tag: string },
): Promise<LatencyResult> {
  const roomId = rig.portals.get(opts.chat);
  if (!roomId) throw new Error("latency portal missing");
  const hs = rig.synapse.url;
  const tracker = new CallTracker(rig.tg);
  const inB: number[] = [];
  const inD: number[] = [];
  const outB: number[] = [];
  const outP: number[] = [];
  progress(`latency: ${opts.warmup} warm-up + ${opts.samples} samples each way`);
  const cpu0 = rig.bridge.cpu();
  const pgc = await PgCounter.open(rig.dataDir);
  const x0 = await pgc.read();
  for (let i = 0; i < opts.warmup + opts.samples; i++) {
    const keep = i >= opts.warmup;
    // Direct send (baseline of platform → Matrix), which is also the Matrix → platform sample.
    const mk = `m2p${opts.tag}:${i}`;
    const wall0 = Date.now();
    const t0 = performance.now();
    await sendText(hs, rig.alice, roomId, `bench:${mk} direct`);
    const seen = await rig.watcher.waitFor(mk);
    const pushed = await rig.probe.waitFor(mk);
    const relayed = await tracker.waitFor(mk);
    if (keep) {
      inD.push(seen - t0);
      outP.push(pushed - wall0);
      outB.push(relayed - wall0);
    }
    await new Promise((r) => setTimeout(r, 20));
    const pk = `p2m${opts.tag}:${i}`;
    const t1 = performance.now();
    rig.tg.injectMessage({ chat: chatId(opts.chat), from: TG_USER, text: `bench:${pk} bridged` });
    const seen2 = await rig.watcher.waitFor(pk);
    if (keep) inB.push(seen2 - t1);
    // The echo of the bridged message goes to the bridge as it goes to the probe: once the
    // probe has it, the bridge has it too (asking the bridge would cost it CPU).
    await rig.probe.waitFor(pk);
    await new Promise((r) => setTimeout(r, 20));
  }
  const cpu1 = rig.bridge.cpu();
  const messages = 2 * (opts.warmup + opts.samples);
  const writes = await pgc.since(x0);
  await pgc.close();
  return {
    samples: opts.samples,
    cpuMsPerMessage: ((cpu1.bridge - cpu0.bridge) * 1000) / messages,
    postgresCpuMsPerMessage: ((cpu1.children - cpu0.children) * 1000) / messages,
    pgWritesPerMessage: writes / messages,
    inbound: {
      bridge: summarize(inB),
      direct: summarize(inD),
      addedPaired: summarize(pairedDifferences(inB, inD)),
    },
    outbound: {
      bridge: summarize(outB),
      probe: summarize(outP),
      addedPaired: summarize(pairedDifferences(outB, outP)),
    },
  };
}

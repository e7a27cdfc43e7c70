/**
 * Throughput: messages spread round-robin over N rooms at a fixed total rate for a few
 * seconds, then the next step at a higher rate, until a step loses messages (not seen within
 * the grace period) or its delivery tail grows past the lag limit. Both sides are fed alike:
 * Telegram users post in N chats of a Telegram stand-in; on the bridge side the bridge takes
 * them with getUpdates into its N portals, on the direct side {@link DirectRelay} takes them
 * from a stand-in of its own into N plain rooms (same per-room order, rooms side by side).
 * The watcher's /sync decides. Then both sides at half the bridge's highest rate, 40 s each in
 * four 10 s chunks in the order bridge, direct, direct, bridge, direct, bridge, bridge, direct:
 * the latency a message gets on a bridge that is busy but keeps up. A p99 wants hundreds of
 * samples (from one 6 s step it was the second-largest of ~130, and moved by ±40 ms between
 * runs), and alternating the order spreads what the homeserver does after the ramp, and any
 * drift of the machine's load, over both sides alike.
 */
import type { TelegramServer } from "../../spec/standins/telegram/TelegramServer";
import { DirectRelay } from "./DirectRelay";
import { PgCounter } from "./pgCounter";
import { chatId, directRooms, progress, type Rig, TG_USER, telegramStandIn } from "./rig";
import { highestSustained, ramp, type StepResult, summarize, sustained } from "./stats";

export interface ThroughputOptions {
  rooms: number;
  stepSeconds: number;
  startRate: number;
  factor: number;
  maxRate: number;
  graceMs: number;
  maxP99Ms: number;
  /** Bisection steps after the first lagging rate. */
  refine: number;
  /** Tells this repetition's messages apart from earlier ones'. */
  tag: string;
}

export interface ThroughputResult {
  rooms: number;
  stepSeconds: number;
  maxP99Ms: number;
  bridge: {
    best: number;
    steps: StepResult[];
    /** CPU of the bridge process and of its PostgreSQL per delivered message over the whole ramp. */
    cpuMsPerMessage: number;
    postgresCpuMsPerMessage: number;
    /** PostgreSQL write transactions (commits) per message. */
    pgWritesPerMessage: number;
  };
  direct: { best: number; steps: StepResult[]; relayFailures: number };
  ratio: number;
  /** Each side at half the bridge's highest sustained rate, its chunks' samples pooled. */
  half: { rate: number; bridge: StepResult; direct: StepResult; addedP99: number; addedP50: number };
}

/** The direct side: its own Telegram stand-in, N plain rooms and the relay between them. */
export interface DirectSide {
  tg: TelegramServer;
  relay: DirectRelay;
  stop(): Promise<void>;
}

export async function startDirectSide(rig: Rig, rooms: number): Promise<DirectSide> {
  const tg = await telegramStandIn();
  const ids = await directRooms(rig, rooms);
  const map = new Map<number, string>();
  ids.forEach((room, i) => {
    tg.addChat({ id: chatId(1 + i), type: "supergroup", title: `Direct ${i}` });
    map.set(chatId(1 + i), room);
  });
  const relay = new DirectRelay(tg, rig.synapse.url, rig.alice, map);
  return {
    tg,
    relay,
    async stop() {
      await relay.stop();
      await tg.close();
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The half-rate phase: chunk length and the order of the sides' chunks (b: bridge, d: direct). */
const HALF_CHUNK_SECONDS = 10;
const HALF_ORDER = ["b", "d", "d", "b", "d", "b", "b", "d"] as const;

async function step(
  rig: Rig,
  tag: string,
  rate: number,
  o: ThroughputOptions,
  send: (seq: number, room: number, body: string) => void,
  /** Gets the step's latencies too, for pooling. */
  samples: number[] = [],
): Promise<StepResult> {
  const total = Math.max(1, Math.round(rate * o.stepSeconds));
  const sentAt: number[] = [];
  const t0 = performance.now();
  let seq = 0;
  while (seq < total) {
    const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * rate) + 1);
    for (; seq < due; seq++) {
      sentAt[seq] = performance.now();
      send(seq, seq % o.rooms, `bench:${tag}:${seq} load`);
    }
    await sleep(5);
  }
  const deadline = performance.now() + o.graceMs;
  const missing = (): number => {
    let n = 0;
    for (let i = 0; i < total; i++) if (!rig.watcher.seen.has(`${tag}:${i}`)) n++;
    return n;
  };
  while (missing() > 0 && performance.now() < deadline) await sleep(20);
  const latencies: number[] = [];
  for (let i = 0; i < total; i++) {
    const s = rig.watcher.seen.get(`${tag}:${i}`);
    if (s) latencies.push(s.at - sentAt[i]!);
  }
  samples.push(...latencies);
  return { rate, sent: total, delivered: latencies.length, latency: summarize(latencies) };
}

/** Waits (bounded) until everything of the step arrived, so the next phase starts quiet. */
async function settle(rig: Rig, tag: string, total: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const done = () => {
    for (let i = 0; i < total; i++) if (!rig.watcher.seen.has(`${tag}:${i}`)) return false;
    return true;
  };
  while (!done() && Date.now() < deadline) await sleep(100);
  await rig.bridge.drained(Math.max(1000, deadline - Date.now())).catch(() => undefined);
}

type Send = (seq: number, room: number, body: string) => void;

/** One side of the comparison: its steps so far and where its ramp stands. */
interface Side {
  name: "bridge" | "direct";
  prefix: string;
  send: Send;
  steps: StepResult[];
  pass: number;
  fail: number;
  n: number;
}

async function tryRate(rig: Rig, side: Side, rate: number, o: ThroughputOptions): Promise<boolean> {
  const tag = `${side.prefix}${side.n++}`;
  const r = await step(rig, tag, rate, o, side.send);
  side.steps.push(r);
  const ok = sustained(r, o.maxP99Ms);
  progress(
    `throughput ${side.name}: ${rate}/s → ${r.delivered}/${r.sent} in time, p99 ${r.latency.p99.toFixed(0)} ms${ok ? "" : " (lags)"}`,
  );
  await settle(rig, tag, r.sent, 60_000);
  await sleep(500);
  if (ok) side.pass = Math.max(side.pass, rate);
  else side.fail = side.fail ? Math.min(side.fail, rate) : rate;
  return ok;
}

/**
 * Ramps both sides in turn, bridge then direct at each rate, so that both see the same
 * machine load (other work on a shared machine comes and goes); each side stops at its first
 * lagging rate, then bisects between its last good and first lagging rate.
 */
async function rampBoth(rig: Rig, sides: Side[], o: ThroughputOptions): Promise<void> {
  for (const rate of ramp(o.startRate, o.factor, o.maxRate)) {
    const going = sides.filter((s) => s.fail === 0);
    if (!going.length) break;
    for (const side of going) await tryRate(rig, side, rate, o);
  }
  for (let i = 0; i < o.refine; i++) {
    for (const side of sides) {
      if (side.fail === 0 || side.fail - side.pass <= 1) continue;
      await tryRate(rig, side, Math.round((side.pass + side.fail) / 2), o);
    }
  }
}

export async function runThroughput(
  rig: Rig,
  direct: DirectSide,
  o: ThroughputOptions,
): Promise<ThroughputResult> {
  const failures0 = direct.relay.failures;
  const side = (name: Side["name"], prefix: string, send: Send): Side => ({
    name,
    prefix,
    send,
    steps: [],
    pass: 0,
    fail: 0,
    n: 0,
  });
  const bridgeSide = side("bridge", `tb${o.tag}x`, (_seq, room, body) => {
    rig.tg.injectMessage({ chat: chatId(1 + room), from: TG_USER, text: body });
  });
  const directSide = side("direct", `td${o.tag}x`, (_seq, room, body) => {
    direct.tg.injectMessage({ chat: chatId(1 + room), from: TG_USER, text: body });
  });
  // CPU over the whole ramp, both sides: the bridge's share of the direct steps is its idle cost.
  const cpu0 = rig.bridge.cpu();
  const pgc = await PgCounter.open(rig.dataDir);
  const x0 = await pgc.read();
  await rampBoth(rig, [bridgeSide, directSide], o);
  const bridge = highestSustained(bridgeSide.steps, o.maxP99Ms);
  const directBest = highestSustained(directSide.steps, o.maxP99Ms);
  // Half the bridge's ceiling, in chunks alternating between the sides (see the top).
  const halfRate = Math.max(1, Math.round(bridge / 2));
  const halfO = { ...o, stepSeconds: HALF_CHUNK_SECONDS };
  const pooled = new Map<Side, { sent: number; samples: number[] }>([
    [bridgeSide, { sent: 0, samples: [] }],
    [directSide, { sent: 0, samples: [] }],
  ]);
  for (const [i, s] of HALF_ORDER.map((k) => (k === "b" ? bridgeSide : directSide)).entries()) {
    const tag = `${s.prefix}h${i}`;
    const pool = pooled.get(s)!;
    const r = await step(rig, tag, halfRate, halfO, s.send, pool.samples);
    pool.sent += r.sent;
    await settle(rig, tag, r.sent, 60_000);
    await sleep(500);
  }
  const halfSteps: StepResult[] = [bridgeSide, directSide].map((s) => {
    const { sent, samples } = pooled.get(s)!;
    const r = { rate: halfRate, sent, delivered: samples.length, latency: summarize(samples) };
    progress(
      `throughput ${s.name} at half the bridge's rate, ${halfRate}/s: ${r.delivered}/${r.sent}, p50 ${r.latency.p50.toFixed(0)} ms, p99 ${r.latency.p99.toFixed(0)} ms`,
    );
    return r;
  });
  const cpu1 = rig.bridge.cpu();
  const writes = await pgc.since(x0);
  await pgc.close();
  const failures = direct.relay.failures - failures0;
  if (failures) progress(`throughput direct: ${failures} sends failed`);
  const delivered = bridgeSide.steps.reduce((s, st) => s + st.sent, 0) + halfSteps[0]!.sent;
  return {
    rooms: o.rooms,
    stepSeconds: o.stepSeconds,
    maxP99Ms: o.maxP99Ms,
    bridge: {
      best: bridge,
      steps: bridgeSide.steps,
      cpuMsPerMessage: ((cpu1.bridge - cpu0.bridge) * 1000) / delivered,
      postgresCpuMsPerMessage: ((cpu1.children - cpu0.children) * 1000) / delivered,
      pgWritesPerMessage: writes / delivered,
    },
    direct: { best: directBest, steps: directSide.steps, relayFailures: failures },
    ratio: directBest > 0 ? bridge / directBest : Number.NaN,
    half: {
      rate: halfRate,
      bridge: halfSteps[0]!,
      direct: halfSteps[1]!,
      addedP99: halfSteps[0]!.latency.p99 - halfSteps[1]!.latency.p99,
      addedP50: halfSteps[0]!.latency.p50 - halfSteps[1]!.latency.p50,
    },
  };
}

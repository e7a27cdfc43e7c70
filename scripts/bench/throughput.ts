/**
 * Throughput: messages spread round-robin over N rooms at a fixed total rate for a few
 * seconds, then the next step at a higher rate, until a step loses messages (not seen within
 * the grace period) or its delivery tail grows past the lag limit. Bridge: Telegram users
 * post in N portal chats. Direct: alice posts in N plain rooms. The watcher's /sync decides.
 */
import { chatId, progress, type Rig, sendText, TG_USER } from "./rig";
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
  };
  direct: { best: number; steps: StepResult[] };
  ratio: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function step(
  rig: Rig,
  tag: string,
  rate: number,
  o: ThroughputOptions,
  send: (seq: number, room: number, body: string) => void,
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

async function rampUp(
  rig: Rig,
  prefix: string,
  o: ThroughputOptions,
  send: (seq: number, room: number, body: string) => void,
): Promise<StepResult[]> {
  const steps: StepResult[] = [];
  let n = 0;
  const tryRate = async (rate: number): Promise<boolean> => {
    const tag = `${prefix}${n++}`;
    const r = await step(rig, tag, rate, o, send);
    steps.push(r);
    const ok = sustained(r, o.maxP99Ms);
    progress(
      `throughput ${prefix === "tb" ? "bridge" : "direct"}: ${rate}/s → ${r.delivered}/${r.sent} in time, p99 ${r.latency.p99.toFixed(0)} ms${ok ? "" : " (lags)"}`,
    );
    await settle(rig, tag, r.sent, 60_000);
    await sleep(500);
    return ok;
  };
  let pass = 0;
  let fail = 0;
  for (const rate of ramp(o.startRate, o.factor, o.maxRate)) {
    if (await tryRate(rate)) pass = rate;
    else {
      fail = rate;
      break;
    }
  }
  // Two bisection steps between the last rate kept up with and the first that lagged.
  for (let i = 0; i < o.refine && fail > 0 && fail - pass > 1; i++) {
    const mid = Math.round((pass + fail) / 2);
    if (await tryRate(mid)) pass = mid;
    else fail = mid;
  }
  return steps;
}

export async function runThroughput(
  rig: Rig,
  direct: string[],
  o: ThroughputOptions,
): Promise<ThroughputResult> {
  const hs = rig.synapse.url;
  const cpu0 = rig.bridge.cpu();
  const bridgeSteps = await rampUp(rig, "tb", o, (_seq, room, body) => {
    rig.tg.injectMessage({ chat: chatId(1 + room), from: TG_USER, text: body });
  });
  const cpu1 = rig.bridge.cpu();
  const delivered = bridgeSteps.reduce((s, st) => s + st.sent, 0);
  let failures = 0;
  const directSteps = await rampUp(rig, "td", o, (_seq, room, body) => {
    sendText(hs, rig.alice, direct[room]!, body).catch(() => {
      failures++;
    });
  });
  if (failures) progress(`throughput direct: ${failures} sends failed`);
  const bridge = highestSustained(bridgeSteps, o.maxP99Ms);
  const directBest = highestSustained(directSteps, o.maxP99Ms);
  return {
    rooms: o.rooms,
    stepSeconds: o.stepSeconds,
    maxP99Ms: o.maxP99Ms,
    bridge: {
      best: bridge,
      steps: bridgeSteps,
      cpuMsPerMessage: ((cpu1.bridge - cpu0.bridge) * 1000) / delivered,
      postgresCpuMsPerMessage: ((cpu1.children - cpu0.children) * 1000) / delivered,
    },
    direct: { best: directBest, steps: directSteps },
    ratio: directBest > 0 ? bridge / directBest : Number.NaN,
  };
}

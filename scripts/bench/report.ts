/** The benchmark's table (markdown) from its JSON result. */
import type { AiResult } from "./ai";
import type { EncryptionLatency, EncryptionResult } from "./encryption";
import type { LatencyResult } from "./latency";
import type { MemoryResult } from "./memory";
import type { ProcessingResult } from "./processing";
import type { ProfileSummary } from "./profile";
import type { Summary } from "./stats";
import type { ThroughputResult } from "./throughput";

export interface BenchResult {
  meta: Record<string, unknown>;
  /** One entry per repetition. */
  latency?: LatencyResult[];
  throughput?: ThroughputResult[];
  encryption?: EncryptionResult;
  memory?: MemoryResult & {
    rssIdleFreshMiB: number;
    pssIdleFresh: { bridge: number; postgres: number };
    rssAfterLoadMiB?: number;
    firstStartMs: number;
  };
  processing?: ProcessingResult;
  ai?: AiResult;
}

const f0 = (v: number) => (Number.isFinite(v) ? v.toFixed(0) : "–");
const f1 = (v: number) => (Number.isFinite(v) ? v.toFixed(1) : "–");
const f2 = (v: number) => (Number.isFinite(v) ? v.toFixed(2) : "–");
const trio = (s: Summary) => `${f1(s.p50)} / ${f1(s.p95)} / ${f1(s.p99)}`;
const plus = (a: Summary, b: Summary) =>
  `+${f1(a.p50 - b.p50)} / +${f1(a.p95 - b.p95)} / +${f1(a.p99 - b.p99)}`.replace(/\+-/g, "−");
const signed = (v: number) => (v < 0 ? `−${f1(-v)}` : `+${f1(v)}`);
const added = (l: EncryptionLatency) =>
  `${signed(l.added.p50)} / ${signed(l.added.p95)} / ${signed(l.added.p99)} (paired p50 ${signed(l.addedPaired.p50)})`;
export const median = (xs: number[]) => {
  const s = [...xs].filter(Number.isFinite).sort((a, b) => a - b);
  return s.length ? (s[Math.floor((s.length - 1) / 2)]! + s[Math.ceil((s.length - 1) / 2)]!) / 2 : Number.NaN;
};
/** "median (min–max)" of the repetitions, or the one figure when there is one. */
function spread(xs: number[], fmt: (v: number) => string = f1, sign = false): string {
  const g = (v: number) => (sign ? (v < 0 ? `−${fmt(-v)}` : `+${fmt(v)}`) : fmt(v));
  if (xs.length <= 1) return xs.length ? g(xs[0]!) : "–";
  return `${g(median(xs))} (${g(Math.min(...xs))} to ${g(Math.max(...xs))})`;
}
const sum = (m: { bridge: number; postgres: number }) => m.bridge + m.postgres;

/** The line above the table: when, what, on which machine under which load. */
export function headline(r: BenchResult): string {
  const m = r.meta;
  const load = (l: unknown) => (Array.isArray(l) ? l.map((x: number) => x.toFixed(2)).join(" ") : "?");
  return (
    `\`npm run bench\` on ${String(m.date).slice(0, 16).replace("T", " ")} UTC: commit ${String(m.commit)}${m.dirty ? " (with uncommitted changes)" : ""}, ` +
    `node ${String(m.node)}, Synapse ${String(m.synapse ?? "–")}, ${String(m.cpus)} cores, ` +
    `load average ${load(m.loadavgStart)} at the start → ${load(m.loadavgEnd)} at the end, ` +
    `${String(m.repeat ?? 1)} repetitions, bridge run ${String(m.entry)}${m.profile ? " and profiled" : ""}, ${f0(Number(m.totalSeconds))} s.`
  );
}

/**
 * The benchmark's table (markdown) from its JSON result: where a scenario ran several times,
 * each figure is the median of the repetitions with their range (min to max) in brackets.
 */
export function table(r: BenchResult): string {
  const rows: string[][] = [
    ["measure", "bridge", "baseline (same run)", "bridge vs baseline: median (min to max)", "target"],
  ];
  const lat = r.latency ?? [];
  if (lat.length) {
    const n = `n=${lat[0]!.samples}×${lat.length}`;
    for (const dir of ["inbound", "outbound"] as const) {
      const base = (l: LatencyResult) => (dir === "inbound" ? l.inbound.direct : l.outbound.probe);
      const mine = (l: LatencyResult) => l[dir].bridge;
      rows.push([
        `${dir === "inbound" ? "platform → Matrix" : "Matrix → platform"} latency p50 / p99 ms (${n})`,
        `${f1(median(lat.map((l) => mine(l).p50)))} / ${f1(median(lat.map((l) => mine(l).p99)))}`,
        `${f1(median(lat.map((l) => base(l).p50)))} / ${f1(median(lat.map((l) => base(l).p99)))} (${dir === "inbound" ? "client send → /sync" : "Synapse's push to a probe appservice"})`,
        `added p50 ${spread(
          lat.map((l) => l[dir].addedPaired.p50),
          f1,
          true,
        )} (paired); added p99 ${spread(
          lat.map((l) => mine(l).p99 - base(l).p99),
          f1,
          true,
        )}`,
        "added p50 < 5, p99 < 25",
      ]);
    }
    rows.push([
      "CPU ms per relayed message, bridge + PostgreSQL (latency run, both directions)",
      spread(lat.map((l) => l.cpuMsPerMessage + l.postgresCpuMsPerMessage)),
      "–",
      `bridge alone ${spread(lat.map((l) => l.cpuMsPerMessage))}; ${spread(
        lat.map((l) => l.pgWritesPerMessage),
      )} commits / message`,
      "≤ 2",
    ]);
  }
  const thr = r.throughput ?? [];
  if (thr.length) {
    const t0 = thr[0]!;
    rows.push([
      `throughput, ${t0.rooms} rooms, msg/s with zero loss and p99 ≤ ${t0.maxP99Ms} ms (×${thr.length})`,
      spread(
        thr.map((t) => t.bridge.best),
        f0,
      ),
      `${spread(
        thr.map((t) => t.direct.best),
        f0,
      )} (the same Telegram feed, relayed without the bridge)`,
      `${spread(
        thr.map((t) => t.ratio * 100),
        f0,
      )} %`,
      "≥ 95 %",
    ]);
    rows.push([
      "latency p50 / p99 ms at half the bridge's highest rate (Telegram → /sync)",
      `${f1(median(thr.map((t) => t.half.bridge.latency.p50)))} / ${f1(median(thr.map((t) => t.half.bridge.latency.p99)))}`,
      `${f1(median(thr.map((t) => t.half.direct.latency.p50)))} / ${f1(median(thr.map((t) => t.half.direct.latency.p99)))} (same rate, relayed without the bridge)`,
      `added p50 ${spread(
        thr.map((t) => t.half.addedP50),
        f1,
        true,
      )}; added p99 ${spread(
        thr.map((t) => t.half.addedP99),
        f1,
        true,
      )} at ${spread(
        thr.map((t) => t.half.rate),
        f0,
      )} msg/s`,
      "added p99 ≤ 25",
    ]);
    rows.push([
      "CPU ms per message, bridge + PostgreSQL (throughput run, platform → Matrix)",
      spread(thr.map((t) => t.bridge.cpuMsPerMessage + t.bridge.postgresCpuMsPerMessage)),
      "–",
      `bridge alone ${spread(thr.map((t) => t.bridge.cpuMsPerMessage))}; ${spread(
        thr.map((t) => t.bridge.pgWritesPerMessage),
        f2,
      )} commits / message`,
      "≤ 2",
    ]);
  }
  const ai = r.ai;
  if (ai) {
    rows.push([
      `AI over Telegram: user's message → the answer's sendMessage, p50 / p95 ms (n=${ai.platform.n}, model answers at once)`,
      `${f1(ai.platform.p50)} / ${f1(ai.platform.p95)}`,
      "–",
      `to the model request ${f1(ai.platformToModel.p50)} / ${f1(ai.platformToModel.p95)}; model's end → sendMessage ${f1(ai.platformFromModel.p50)} / ${f1(ai.platformFromModel.p95)}`,
      "",
    ]);
    rows.push([
      `AI in Matrix: first token → first visible answer, p50 / p95 ms (n=${ai.firstTokenToVisible.n})`,
      `${f1(ai.firstTokenToVisible.p50)} / ${f1(ai.firstTokenToVisible.p95)}`,
      `${f1(ai.direct.p50)} / ${f1(ai.direct.p95)} (a direct send → visible)`,
      `${signed(ai.firstTokenToVisible.p50 - ai.direct.p50)} / ${signed(ai.firstTokenToVisible.p95 - ai.direct.p95)}; user's send → answer visible ${f1(ai.roundTrip.p50)}`,
      "",
    ]);
  }
  if (r.encryption) {
    const e = r.encryption;
    rows.push([
      `encrypted portal, platform → Matrix latency, p50 / p95 / p99 ms (n=${e.samples})`,
      trio(e.inbound.encrypted),
      `${trio(e.inbound.plain)} (unencrypted portal; until alice's E2EE client has it)`,
      added(e.inbound),
      "added p50 < 5",
    ]);
    rows.push([
      "the same, only until Synapse pushes the ghost's event to the probe (no client part), ms",
      trio(e.inboundUntilPush.encrypted),
      `${trio(e.inboundUntilPush.plain)} (unencrypted portal)`,
      added(e.inboundUntilPush),
      "",
    ]);
    rows.push([
      `encrypted portal, Matrix → platform latency, p50 / p95 / p99 ms (n=${e.samples})`,
      trio(e.outbound.encrypted),
      `${trio(e.outbound.plain)} (unencrypted portal; Synapse's push → stand-in)`,
      added(e.outbound),
      "added p50 < 5",
    ]);
    rows.push([
      "bridge CPU ms per relayed message, encrypted portal (both directions)",
      f1(e.encrypted.cpuMsPerMessage),
      `${f1(e.plain.cpuMsPerMessage)} (unencrypted portal)`,
      `${signed(e.encrypted.cpuMsPerMessage - e.plain.cpuMsPerMessage)} ms; commits / message ${f1(e.encrypted.pgWritesPerMessage)} vs ${f1(e.plain.pgWritesPerMessage)}; PostgreSQL ${f1(e.postgresCpuMsPerMessage)} ms (both portals)`,
      "",
    ]);
    const l = r.latency?.[0];
    if (l) {
      // Same definitions as the latency scenario's (its first repetition), but not interleaved with it.
      rows.push([
        `unencrypted portal, encryption allowed: platform → Matrix p50 / p95 / p99 ms (inject → watcher /sync)`,
        trio(e.plainInboundWatcher),
        `${trio(l.inbound.bridge)} (latency scenario: encryption not allowed; earlier in the run)`,
        plus(e.plainInboundWatcher, l.inbound.bridge),
        "",
      ]);
      rows.push([
        `unencrypted portal, encryption allowed: Matrix → platform p50 / p95 / p99 ms (Synapse's push → stand-in)`,
        trio(e.outbound.plain),
        `${trio(l.outbound.addedPaired)} (latency scenario: encryption not allowed; earlier in the run)`,
        plus(e.outbound.plain, l.outbound.addedPaired),
        "",
      ]);
    }
  }
  if (r.processing) {
    const p = r.processing;
    for (const mix of ["echo", "relay", "inbound"]) {
      const ms = p.mixes.filter((m) => m.mix === mix);
      if (!ms.length) continue;
      rows.push([
        `bridge-side ${mix} events / CPU-second, bridge + PostgreSQL (no Synapse; ×${ms.length})`,
        spread(
          ms.map((m) => m.eventsPerCoreSecWithPostgres),
          f0,
        ),
        "–",
        `bridge alone ${spread(
          ms.map((m) => m.eventsPerCoreSec),
          f0,
        )}; ${spread(
          ms.map((m) => m.pgWritesPerEvent),
          f2,
        )} commits / event; ${spread(
          ms.map((m) => m.eventsPerSec),
          f0,
        )} events/s wall`,
        mix === "inbound" ? "≥ 2,000" : "",
      ]);
    }
    rows.push([
      `memory MiB, ${p.portals / 1000}k portals + ${p.ghosts / 1000}k ghosts, all portals active: PSS of bridge + PostgreSQL`,
      f1(sum(p.pssAfter)),
      "–",
      `bridge ${f1(p.pssAfter.bridge)} + PostgreSQL ${f1(p.pssAfter.postgres)}; idle before ${f1(sum(p.pssIdle))}; bridge RSS ${f1(p.rssIdleMiB)} → ${f1(p.rssAfterMiB)}; live heap after a full GC ${f1(p.heapAfterGcMiB ?? Number.NaN)}; bridge RSS after a burst of ${p.mixes.find((m) => m.mix === "inbound")?.events ?? 0} inbound ${f1(p.rssAfterBurstMiB)}`,
      "≤ 200",
    ]);
  }
  if (r.memory) {
    const m = r.memory;
    const idle = r.meta.bridgeIdleCpuPercent;
    const pgIdle = r.meta.postgresIdleCpuPercent;
    rows.push([
      "memory MiB, idle, few portals (real Synapse): PSS of bridge + PostgreSQL",
      f1(sum(m.pssIdleFresh)),
      "–",
      `bridge ${f1(m.pssIdleFresh.bridge)} + PostgreSQL ${f1(m.pssIdleFresh.postgres)}; bridge RSS ${f1(m.rssIdleFreshMiB)}${typeof idle === "number" && typeof pgIdle === "number" ? `; idle CPU ${f1(idle)} + ${f1(pgIdle)} % of a core` : ""}`,
      "",
    ]);
    for (const entry of ["compiled", "tsx"] as const) {
      const s = m.starts.filter((x) => x.entry === entry);
      if (!s.length) continue;
      rows.push([
        `start → ready s, ${m.portals / 1000}k portals + ${m.ghosts / 1000}k ghosts in the database, ${entry === "compiled" ? "node dist/src/cli.js" : "tsx src/cli.ts"} (×${s.length})`,
        spread(
          s.map((x) => x.readyMs / 1000),
          f2,
        ),
        "–",
        `then idle: PSS bridge + PostgreSQL ${f1(median(s.map((x) => sum(x.pssIdle))))}, bridge RSS ${f1(median(s.map((x) => x.rssIdleMiB)))}`,
        entry === "compiled" ? "≤ 0.5" : "",
      ]);
    }
    rows.push(["first start (initdb of embedded PostgreSQL) s", f2(m.firstStartMs / 1000), "–", "", ""]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`;
  return [
    line(rows[0]!),
    `| ${widths.map((w) => "-".repeat(w)).join(" | ")} |`,
    ...rows.slice(1).map(line),
  ].join("\n");
}

export function profileText(title: string, p: ProfileSummary): string {
  const pct = (s: number) => `${(s * 100).toFixed(1)} %`;
  const out = [
    `${title}: ${(p.busyMs / 1000).toFixed(2)} s busy of ${(p.totalMs / 1000).toFixed(2)} s sampled`,
    "  by origin (self time):",
    ...p.byOrigin.slice(0, 10).map((l) => `    ${pct(l.share).padStart(7)}  ${l.name}`),
    "  by the package or project file that caused it (native and node work charged to its caller):",
    ...p.byCaller.slice(0, 10).map((l) => `    ${pct(l.share).padStart(7)}  ${l.name}`),
    "  hottest functions (self):",
    ...p.topSelf.slice(0, 12).map((l) => `    ${pct(l.share).padStart(7)}  ${l.name}`),
    "  project functions (inclusive):",
    ...p.topInclusive.slice(0, 12).map((l) => `    ${pct(l.share).padStart(7)}  ${l.name}`),
  ];
  const wasm = p.topWasmInclusive;
  if (wasm.length)
    out.push(
      "  WebAssembly functions (inclusive):",
      ...wasm.slice(0, 15).map((l) => `    ${pct(l.share).padStart(7)}  ${l.name}`),
    );
  return out.join("\n");
}

/** The benchmark's table (markdown) from its JSON result. */
import type { EncryptionLatency, EncryptionResult } from "./encryption";
import type { LatencyResult } from "./latency";
import type { MemoryResult } from "./memory";
import type { ProcessingResult } from "./processing";
import type { ProfileSummary } from "./profile";
import type { Summary } from "./stats";
import type { ThroughputResult } from "./throughput";

export interface BenchResult {
  meta: Record<string, unknown>;
  latency?: LatencyResult;
  throughput?: ThroughputResult;
  encryption?: EncryptionResult;
  memory?: MemoryResult & { rssIdleFreshMiB: number; rssAfterLoadMiB?: number; firstStartMs: number };
  processing?: ProcessingResult;
}

const f0 = (v: number) => (Number.isFinite(v) ? v.toFixed(0) : "–");
const f1 = (v: number) => (Number.isFinite(v) ? v.toFixed(1) : "–");
const trio = (s: Summary) => `${f1(s.p50)} / ${f1(s.p95)} / ${f1(s.p99)}`;
const plus = (a: Summary, b: Summary) =>
  `+${f1(a.p50 - b.p50)} / +${f1(a.p95 - b.p95)} / +${f1(a.p99 - b.p99)}`.replace(/\+-/g, "−");
const signed = (v: number) => (v < 0 ? `−${f1(-v)}` : `+${f1(v)}`);
const added = (l: EncryptionLatency) =>
  `${signed(l.added.p50)} / ${signed(l.added.p95)} / ${signed(l.added.p99)} (paired p50 ${signed(l.addedPaired.p50)})`;
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s[Math.floor((s.length - 1) / 2)]! + s[Math.ceil((s.length - 1) / 2)]!) / 2 : Number.NaN;
};

export function table(r: BenchResult): string {
  const rows: string[][] = [["measure", "bridge", "baseline (same run)", "bridge vs baseline", "target"]];
  if (r.latency) {
    const { inbound, outbound, samples } = r.latency;
    rows.push([
      `platform → Matrix latency, p50 / p95 / p99 ms (n=${samples})`,
      trio(inbound.bridge),
      `${trio(inbound.direct)} (client send → /sync)`,
      `${plus(inbound.bridge, inbound.direct)} (paired p50 +${f1(inbound.addedPaired.p50)})`,
      "added p50 < 5, p99 < 25",
    ]);
    rows.push([
      `Matrix → platform latency, p50 / p95 / p99 ms (n=${samples})`,
      trio(outbound.bridge),
      `${trio(outbound.probe)} (Synapse → probe appservice)`,
      `${plus(outbound.bridge, outbound.probe)} (paired p50 +${f1(outbound.addedPaired.p50)})`,
      "added p50 < 5, p99 < 25",
    ]);
  }
  if (r.latency) {
    const l = r.latency;
    rows.push([
      "bridge CPU ms per relayed message (latency run, both directions)",
      f1(l.cpuMsPerMessage),
      "–",
      `+ ${f1(l.postgresCpuMsPerMessage)} ms PostgreSQL; ${f1(l.pgWritesPerMessage)} commits / message`,
      "",
    ]);
  }
  if (r.throughput) {
    const t = r.throughput;
    rows.push([
      `throughput, ${t.rooms} rooms, msg/s with zero loss and p99 ≤ ${t.maxP99Ms} ms`,
      f0(t.bridge.best),
      `${f0(t.direct.best)} (direct sends)`,
      `${f0(t.ratio * 100)} %`,
      "≥ 95 %",
    ]);
    rows.push([
      "bridge CPU ms per message (throughput ramp, platform → Matrix)",
      f1(t.bridge.cpuMsPerMessage),
      "–",
      `+ ${f1(t.bridge.postgresCpuMsPerMessage)} ms PostgreSQL; ${f1(t.bridge.pgWritesPerMessage)} commits / message`,
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
      "  the same, only until Synapse pushes the ghost's event to the probe (no client part), ms",
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
    if (r.latency) {
      // Same definitions as the latency scenario's, but not interleaved with it.
      const l = r.latency;
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
    for (const m of p.mixes) {
      rows.push([
        `bridge-side ${m.mix} events / CPU-second (no Synapse)`,
        f0(m.eventsPerCoreSec),
        "–",
        `${f0(m.eventsPerSec)} events/s wall; ${f0(m.eventsPerCoreSecWithPostgres)} incl. PostgreSQL CPU; ${m.pgWritesPerEvent.toFixed(2)} commits / event`,
        "≥ 5,000",
      ]);
    }
    rows.push([
      `RSS MiB, ${p.portals / 1000}k portals + ${p.ghosts / 1000}k ghosts: idle → after all portals active (echo, relay)`,
      `${f1(p.rssIdleMiB)} → ${f1(p.rssAfterMiB)}`,
      "–",
      `V8 heap used ${f1(p.heapIdleMiB ?? Number.NaN)} → ${f1(p.heapAfterMiB ?? Number.NaN)} MiB; live after a full GC at the end ${f1(p.heapAfterGcMiB ?? Number.NaN)} MiB; RSS after a burst of ${p.mixes.find((m) => m.mix === "inbound")?.events ?? 0} inbound ${f1(p.rssAfterBurstMiB)}`,
      "< 120",
    ]);
  }
  if (r.memory) {
    const m = r.memory;
    const idle = r.meta.bridgeIdleCpuPercent;
    rows.push([
      "RSS MiB, idle, few portals (real Synapse)",
      f1(m.rssIdleFreshMiB),
      "–",
      typeof idle === "number" ? `idle CPU ${f1(idle)} % of a core` : "",
      "",
    ]);
    if (m.rssAfterLoadMiB !== undefined)
      rows.push(["RSS MiB after the latency and throughput runs", f1(m.rssAfterLoadMiB), "–", "", ""]);
    for (const entry of ["compiled", "tsx"] as const) {
      const s = m.starts.filter((x) => x.entry === entry);
      if (!s.length) continue;
      rows.push([
        `start → ready s, ${m.portals / 1000}k portals + ${m.ghosts / 1000}k ghosts, ${entry === "compiled" ? "node dist/src/cli.js" : "tsx src/cli.ts"} (median of ${s.length})`,
        (median(s.map((x) => x.readyMs)) / 1000).toFixed(2),
        "–",
        `RSS idle ${f1(median(s.map((x) => x.rssIdleMiB)))} MiB`,
        "< 2 s, < 120 MiB",
      ]);
    }
    rows.push([
      "first start (initdb of embedded PostgreSQL) s",
      (m.firstStartMs / 1000).toFixed(2),
      "–",
      "",
      "",
    ]);
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

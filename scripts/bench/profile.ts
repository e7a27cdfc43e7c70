/**
 * Summarises a V8 CPU profile (`node --cpu-prof`): where the sampled time went, by function
 * (self and inclusive) and by origin (project file, npm package, node internals, GC, idle).
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";

/** The parts of a `.cpuprofile` this summary reads. */
export interface CpuProfile {
  nodes: Array<{
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
    children?: number[];
  }>;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileLine {
  name: string;
  ms: number;
  /** Share of the busy (non-idle) time, 0..1. */
  share: number;
}

export interface ProfileSummary {
  totalMs: number;
  idleMs: number;
  busyMs: number;
  byOrigin: ProfileLine[];
  /**
   * Self time charged to the nearest package or project frame on the stack: node internals
   * and native work (socket writes, parsing) count for the library or file that asked for them.
   */
  byCaller: ProfileLine[];
  topSelf: ProfileLine[];
  topInclusive: ProfileLine[];
  /**
   * WebAssembly functions by inclusive time (the crypto's Rust code; its async work runs from
   * microtasks, so no project frame is on its stack). Empty without WebAssembly.
   */
  topWasmInclusive: ProfileLine[];
}

/** Where a frame's code comes from: `src/…`, `bridges/…`, an npm package, node, or V8 itself. */
export function originOf(url: string, functionName: string): string {
  if (!url) {
    if (functionName === "(idle)") return "(idle)";
    if (functionName === "(garbage collector)") return "(gc)";
    if (functionName === "(program)") return "(program)";
    return "(native)";
  }
  if (url.startsWith("node:")) return "node internals";
  // wasm://wasm/<module>.wasm-<hash>: one origin per module.
  if (url.startsWith("wasm://"))
    return `wasm ${url.replace(/^.*\//, "").replace(/(\.wasm)?-[0-9a-f]+$/, "")}`;
  const nm = url.lastIndexOf("node_modules/");
  if (nm >= 0) {
    const rest = url.slice(nm + "node_modules/".length).split("/");
    return `npm ${rest[0]!.startsWith("@") ? `${rest[0]}/${rest[1]}` : rest[0]}`;
  }
  const m = /\/((?:src|bridges|spec|scripts)\/.*)$/.exec(url);
  return m ? m[1]!.replace(/\/[^/]+$/, "/") : url;
}

/** A WebAssembly function's name without Rust crate hashes (`[0123456789abcdef]`), at most 160 characters. */
export function wasmName(functionName: string): string {
  return functionName.replace(/\[[0-9a-f]{16}\]/g, "").slice(0, 160);
}

function frameName(f: CpuProfile["nodes"][number]["callFrame"]): string {
  if (f.url.startsWith("wasm://")) return `${wasmName(f.functionName)} (wasm)`;
  const file = f.url
    ? f.url.replace(/^.*\/((?:src|bridges|node_modules)\/)/, "$1").replace(/^file:\/\//, "")
    : "";
  const fn = f.functionName || "(anonymous)";
  return file ? `${fn} ${file}:${f.lineNumber + 1}` : fn;
}

function top(map: Map<string, number>, busy: number, n: number): ProfileLine[] {
  return [...map.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([name, us]) => ({ name, ms: us / 1000, share: busy > 0 ? us / busy : 0 }));
}

export function summarizeProfile(p: CpuProfile, n = 15): ProfileSummary {
  const byId = new Map(p.nodes.map((node) => [node.id, node]));
  const self = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) {
    const id = p.samples[i]!;
    self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0));
  }
  let total = 0;
  let idle = 0;
  const origin = new Map<string, number>();
  const selfByName = new Map<string, number>();
  for (const [id, us] of self) {
    const node = byId.get(id);
    if (!node) continue;
    total += us;
    const o = originOf(node.callFrame.url, node.callFrame.functionName);
    if (o === "(idle)") {
      idle += us;
      continue;
    }
    origin.set(o, (origin.get(o) ?? 0) + us);
    const name = frameName(node.callFrame);
    selfByName.set(name, (selfByName.get(name) ?? 0) + us);
  }
  const busy = total - idle;
  // Inclusive time per function: each sample counted once per distinct function on its stack.
  const parent = new Map<number, number>();
  for (const node of p.nodes) for (const c of node.children ?? []) parent.set(c, node.id);
  const caller = new Map<string, number>();
  for (const [id, us] of self) {
    const leaf = byId.get(id);
    if (!leaf || originOf(leaf.callFrame.url, leaf.callFrame.functionName) === "(idle)") continue;
    let name = originOf(leaf.callFrame.url, leaf.callFrame.functionName);
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const f = byId.get(cur)?.callFrame;
      if (!f?.url || f.url.startsWith("node:")) continue;
      name = originOf(f.url, f.functionName);
      break;
    }
    caller.set(name, (caller.get(name) ?? 0) + us);
  }
  const inclusive = new Map<string, number>();
  for (const [id, us] of self) {
    const leaf = byId.get(id);
    if (!leaf || originOf(leaf.callFrame.url, leaf.callFrame.functionName) === "(idle)") continue;
    const names = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const node = byId.get(cur);
      if (!node?.callFrame.url) continue;
      if (!/\/(src|bridges)\//.test(node.callFrame.url)) continue; // project code only
      names.add(frameName(node.callFrame));
    }
    for (const name of names) inclusive.set(name, (inclusive.get(name) ?? 0) + us);
  }
  const wasmInclusive = new Map<string, number>();
  for (const [id, us] of self) {
    if (!byId.get(id)?.callFrame.url.startsWith("wasm://")) continue;
    const names = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const f = byId.get(cur)?.callFrame;
      if (f?.url.startsWith("wasm://")) names.add(wasmName(f.functionName));
    }
    for (const name of names) wasmInclusive.set(name, (wasmInclusive.get(name) ?? 0) + us);
  }
  return {
    totalMs: total / 1000,
    idleMs: idle / 1000,
    busyMs: busy / 1000,
    byOrigin: top(origin, busy, n),
    byCaller: top(caller, busy, n),
    topSelf: top(selfByName, busy, n),
    topInclusive: top(inclusive, busy, n),
    topWasmInclusive: top(wasmInclusive, busy, n),
  };
}

/** The newest `.cpuprofile` in `dir`, parsed, or undefined. */
export function newestProfile(dir: string): { file: string; profile: CpuProfile } | undefined {
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith(".cpuprofile"));
  } catch {
    return undefined;
  }
  const newest = files
    .map((f) => path.join(dir, f))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
  if (!newest) return undefined;
  return { file: newest, profile: JSON.parse(readFileSync(newest, "utf8")) as CpuProfile };
}

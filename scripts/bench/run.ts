/**
 * `npm run bench [-- options]`: relay latency, throughput, what encryption adds to latency,
 * bridge-side processing, memory and start-up of the bridge, each against a baseline measured
 * in the same run. Prints a table
 * and writes JSON (default bench-results/latest.json). See scripts/bench/README.md.
 *
 * Options:
 *   --only latency,throughput,encryption,processing,memory,ai   run a subset (default: all)
 *   --repeat N              repetitions of latency, throughput and the relay and inbound
 *                           processing mixes (default 3); the table shows median and range
 *   --write-readme          regenerate the tables of README.md and scripts/bench/README.md
 *                           from this run's JSON (scripts/bench/readme.ts does it for any JSON)
 *   --entry compiled|tsx    how the bridge under test runs (default compiled: node dist/src/cli.js)
 *   --profile               node --cpu-prof on the bridge children; prints where the time went
 *   --samples N             latency samples each way (default 100; encryption: per portal;
 *                           ai: round trips each way, default 10)
 *   --rooms N               throughput rooms (default 10)
 *   --out FILE              JSON output (default bench-results/latest.json)
 *   --keep                  keep the scratch directory (logs, profiles)
 */
import { execFileSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { REPO_ROOT } from "../lib/synapse";
import { runAi } from "./ai";
import type { Entry } from "./BenchBridge";
import { runEncryption } from "./encryption";
import { type LatencyResult, runLatency } from "./latency";
import { runMemory } from "./memory";
import { runProcessing } from "./processing";
import { newestProfile, summarizeProfile } from "./profile";
import { writeReadmes } from "./readme";
import { type BenchResult, headline, profileText, table } from "./report";
import { ensurePortals, progress, type Rig, startRig } from "./rig";
import { runThroughput, startDirectSide, type ThroughputResult } from "./throughput";

const SCENARIOS = ["latency", "throughput", "encryption", "processing", "memory", "ai"] as const;
type Scenario = (typeof SCENARIOS)[number];

interface Options {
  only: Set<Scenario>;
  entry: Entry;
  profile: boolean;
  samples: number;
  rooms: number;
  out: string;
  keep: boolean;
  repeat: number;
  writeReadme: boolean;
}

class UsageError extends Error {}

function count(option: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${option} needs a whole number ≥ 1, not ${value}`);
  return n;
}

function parse(argv: string[]): Options {
  const o: Options = {
    only: new Set(SCENARIOS),
    entry: "compiled",
    profile: false,
    samples: 100,
    rooms: 10,
    out: path.join(REPO_ROOT, "bench-results", "latest.json"),
    keep: false,
    repeat: 3,
    writeReadme: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = (): string => {
      const x = argv[++i];
      if (x === undefined) throw new UsageError(`${a} needs a value`);
      return x;
    };
    if (a === "--only") {
      const names = v().split(",");
      for (const n of names)
        if (!SCENARIOS.includes(n as Scenario))
          throw new UsageError(`--only: unknown ${n} (one of ${SCENARIOS.join(", ")})`);
      o.only = new Set(names as Scenario[]);
    } else if (a === "--entry") {
      const e = v();
      if (e !== "compiled" && e !== "tsx") throw new UsageError("--entry is compiled or tsx");
      o.entry = e;
    } else if (a === "--profile") o.profile = true;
    else if (a === "--samples") o.samples = count(a, v());
    else if (a === "--rooms") o.rooms = count(a, v());
    else if (a === "--out") o.out = path.resolve(v());
    else if (a === "--keep") o.keep = true;
    else if (a === "--repeat") o.repeat = count(a, v());
    else if (a === "--write-readme") o.writeReadme = true;
    else throw new UsageError(`unknown option ${a}`);
  }
  return o;
}

function git(...args: string[]): string {
  try {
    return execFileSync("git", args, { cwd: REPO_ROOT, encoding: "utf8" }).trim();
  } catch {
    return "unknown";
  }
}

async function main(): Promise<void> {
  const o = parse(process.argv.slice(2));
  const t0 = Date.now();
  const dir = mkdtempSync(path.join(os.tmpdir(), "clawbridge-bench-"));
  // As root, the embedded PostgreSQL runs as its own user, which must reach the data dirs.
  chmodSync(dir, 0o755);
  const needsCompiled = o.entry === "compiled" || o.only.has("memory") || o.only.has("processing");
  if (needsCompiled) {
    progress(
      "building dist/ (npm run build: tsc -p tsconfig.build.json, then the generated config validators)",
    );
    execFileSync(process.execPath, [require.resolve("typescript/bin/tsc"), "-p", "tsconfig.build.json"], {
      cwd: REPO_ROOT,
      stdio: "inherit",
    });
    execFileSync(process.execPath, [path.join("dist", "src", "config", "buildValidators.js")], {
      cwd: REPO_ROOT,
      stdio: "inherit",
    });
  }
  const result: BenchResult = {
    meta: {
      date: new Date().toISOString(),
      commit: git("rev-parse", "--short", "HEAD"),
      dirty: git("status", "--porcelain", "--untracked-files=no") !== "",
      node: process.version,
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model,
      loadavgStart: os.loadavg(),
      repeat: o.repeat,
      samples: o.samples,
      entry: o.entry,
      profile: o.profile,
      scenarios: [...o.only],
    },
  };
  const profDir = path.join(dir, "cpuprofile-synapse-bridge");
  const encProfDir = path.join(dir, "cpuprofile-encryption");
  let rig: Rig | undefined;
  try {
    if (["latency", "throughput", "encryption", "memory"].some((s) => o.only.has(s as Scenario))) {
      rig = await startRig({
        dir,
        entry: o.entry,
        // The encryption scenario profiles its own bridge process (see runEncryption).
        nodeArgs:
          o.profile && (o.only.has("latency") || o.only.has("throughput"))
            ? ["--cpu-prof", `--cpu-prof-dir=${profDir}`]
            : [],
      });
      result.meta.synapse = rig.synapseVersion;
      await ensurePortals(rig, 0, 1 + (o.only.has("throughput") ? o.rooms : 0));
      await rig.bridge.drained(30_000);
      await new Promise((r) => setTimeout(r, 2000));
      const rssIdleFreshMiB = rig.bridge.rss() ?? 0;
      const pssIdleFresh = rig.bridge.pss();
      const idle0 = rig.bridge.cpu();
      await new Promise((r) => setTimeout(r, 5000));
      const idle1 = rig.bridge.cpu();
      result.meta.bridgeIdleCpuPercent = ((idle1.bridge - idle0.bridge) / 5) * 100;
      result.meta.postgresIdleCpuPercent = ((idle1.children - idle0.children) / 5) * 100;
      // Repetitions take turns, latency then throughput, so that both meet the load of the moment.
      const direct = o.only.has("throughput") ? await startDirectSide(rig, o.rooms) : undefined;
      const latency: LatencyResult[] = [];
      const throughput: ThroughputResult[] = [];
      for (let rep = 0; rep < o.repeat; rep++) {
        if (o.only.has("latency"))
          latency.push(await runLatency(rig, { samples: o.samples, warmup: 10, chat: 0, tag: String(rep) }));
        if (direct) {
          const last = throughput.map((t) => Math.min(t.bridge.best, t.direct.best));
          throughput.push(
            await runThroughput(rig, direct, {
              rooms: o.rooms,
              stepSeconds: 3,
              // Later repetitions start below the ceiling found before instead of climbing again.
              startRate: last.length ? Math.max(10, Math.round(Math.min(...last) * 0.6)) : 10,
              factor: 1.5,
              maxRate: 2000,
              graceMs: 3000,
              maxP99Ms: 1000,
              refine: 2,
              tag: String(rep),
            }),
          );
        }
      }
      await direct?.stop();
      if (latency.length) result.latency = latency;
      if (throughput.length) result.throughput = throughput;
      const rssAfterLoadMiB =
        o.only.has("latency") || o.only.has("throughput") ? rig.bridge.rss() : undefined;
      if (o.only.has("encryption"))
        result.encryption = await runEncryption(rig, {
          samples: o.samples,
          warmup: 10,
          nodeArgs: o.profile ? ["--cpu-prof", `--cpu-prof-dir=${encProfDir}`] : [],
        });
      if (o.only.has("memory")) {
        const m = await runMemory(rig, { portals: 10_000, ghosts: 100_000, repeats: 2, idleMs: 3000 });
        result.memory = {
          ...m,
          rssIdleFreshMiB,
          pssIdleFresh,
          rssAfterLoadMiB,
          firstStartMs: rig.firstStartMs,
        };
      }
      result.meta.watcherLimitedSyncs = rig.watcher.limited;
      await rig.stop();
      rig = undefined;
    }
    if (o.only.has("processing")) {
      result.processing = await runProcessing({
        dir,
        entry: "compiled",
        profile: o.profile,
        portals: 10_000,
        ghosts: 100_000,
        echoEvents: 20_000,
        relayEvents: 5_000,
        relayRooms: 100,
        inboundEvents: 5_000,
        repeat: o.repeat,
      });
    }
    // Its own Synapse and bridge (the e2e harness's AI rig), after the others have stopped.
    if (o.only.has("ai")) {
      progress("ai: Telegram DM → answer, and the AI in a Matrix room");
      result.ai = await runAi(Math.min(o.samples, 20));
    }
  } finally {
    await rig?.stop().catch(() => undefined);
  }
  result.meta.loadavgEnd = os.loadavg();
  result.meta.totalSeconds = (Date.now() - t0) / 1000;
  const synapseProfile = o.profile ? newestProfile(profDir) : undefined;
  const profiles: Record<string, unknown> = {};
  if (synapseProfile)
    profiles.synapseBridge = { file: synapseProfile.file, ...summarizeProfile(synapseProfile.profile) };
  const encryptionProfile = o.profile ? newestProfile(encProfDir) : undefined;
  if (encryptionProfile)
    profiles.encryptionBridge = {
      file: encryptionProfile.file,
      ...summarizeProfile(encryptionProfile.profile),
    };
  if (result.processing?.profile) profiles.processing = result.processing.profile;
  mkdirSync(path.dirname(o.out), { recursive: true });
  writeFileSync(o.out, `${JSON.stringify({ ...result, profiles }, null, 2)}\n`);
  console.log(`\n${headline(result)}\n`);
  console.log(table(result));
  if (o.profile)
    console.log(
      "\n(profiling was on: CPU figures include the profiler's own cost; take them from a run without --profile)",
    );
  if (synapseProfile)
    console.log(`\n${profileText("profile, bridge on Synapse", summarizeProfile(synapseProfile.profile))}`);
  if (encryptionProfile)
    console.log(
      `\n${profileText("profile, bridge with encryption allowed (encryption scenario)", summarizeProfile(encryptionProfile.profile))}`,
    );
  if (result.processing?.profile)
    console.log(`\n${profileText("profile, bridge-side processing", result.processing.profile)}`);
  console.log(`\nJSON: ${o.out}`);
  if (o.writeReadme) for (const f of writeReadmes(result)) console.log(`table written into ${f}`);
  if (o.keep) console.log(`scratch: ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    if (err instanceof UsageError) {
      console.error(`bench: ${err.message} (options: see scripts/bench/README.md)`);
      process.exit(2);
    }
    console.error(err);
    process.exit(1);
  },
);

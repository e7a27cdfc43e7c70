/**
 * The real bridge CLI as a child process, started the way the benchmark needs: compiled
 * (`dist/src/cli.js`, what an install runs) or from source under tsx, with extra node flags
 * (`--cpu-prof`), and with its CPU time and RSS readable from /proc while it runs.
 */
import { type ChildProcess, spawn } from "node:child_process";
import {
  createWriteStream,
  existsSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  type WriteStream,
} from "node:fs";
import path from "node:path";
import { REPO_ROOT } from "../lib/synapse";

/** How the CLI is run: `compiled` = node dist/src/cli.js, `tsx` = node --require tsx/cjs src/cli.ts. */
export type Entry = "compiled" | "tsx";

export interface BenchBridgeOptions {
  entry: Entry;
  configPath: string;
  registrationPath: string;
  /** `http://127.0.0.1:<port>`: where /health is served. */
  baseUrl: string;
  logPath: string;
  nodeArgs?: string[];
  healthTimeoutMs?: number;
}

/**
 * CPU seconds (user + system) of a process, from /proc/<pid>/stat; with `reaped`, plus what its
 * exited and reaped children used (PostgreSQL's postmaster reaps its short-lived workers).
 * Undefined when the process is gone.
 */
export function cpuSeconds(pid: number, reaped = false): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name (which may contain spaces) start after the last ")".
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    let ticks = Number(f[11]) + Number(f[12]); // utime, stime (fields 14 and 15)
    if (reaped) ticks += Number(f[13]) + Number(f[14]); // cutime, cstime
    return ticks / 100; // USER_HZ is 100 on Linux
  } catch {
    return undefined;
  }
}

/** Resident set size of a process in MiB, from /proc/<pid>/status. */
export function rssMiB(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Proportional set size of a process in MiB, from /proc/<pid>/smaps_rollup: its private pages
 * plus its share of pages it shares (PostgreSQL's shared buffers are counted once over all the
 * cluster's processes, not once per process as RSS would). Undefined when the process is gone.
 */
export function pssMiB(pid: number): number | undefined {
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Every descendant pid of `pid` (children, their children, …), read from /proc. */
export function descendants(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      parent.set(Number(name), ppid);
    } catch {
      // exited while we looked
    }
  }
  const out: number[] = [];
  const walk = (p: number): void => {
    for (const [child, pp] of parent) {
      if (pp === p) {
        out.push(child);
        walk(child);
      }
    }
  };
  walk(pid);
  return out;
}

export class BenchBridge {
  /** ms from spawn until /health answered 200. */
  readyMs = 0;
  private exited = false;
  private readonly done: Promise<void>;

  private constructor(
    private readonly child: ChildProcess,
    private readonly log: WriteStream,
    readonly baseUrl: string,
    /** Working directory of the child (where a heap snapshot lands). */
    private readonly cwd: string,
  ) {
    this.done = new Promise((resolve) =>
      child.once("exit", () => {
        this.exited = true;
        process.off("exit", this.killOnExit);
        resolve();
      }),
    );
    process.on("exit", this.killOnExit);
  }

  private readonly killOnExit = (): void => {
    this.child.kill("SIGKILL");
  };

  get pid(): number {
    return this.child.pid ?? -1;
  }

  static async start(opts: BenchBridgeOptions): Promise<BenchBridge> {
    const script =
      opts.entry === "compiled"
        ? [path.join(REPO_ROOT, "dist", "src", "cli.js")]
        : ["--require", require.resolve("tsx/cjs"), path.join(REPO_ROOT, "src", "cli.ts")];
    if (opts.entry === "compiled" && !existsSync(script[0]!))
      throw new Error(`${script[0]} is missing: run npm run build`);
    const args = [
      ...(opts.nodeArgs ?? []),
      ...script,
      "start",
      "-c",
      opts.configPath,
      "-r",
      opts.registrationPath,
    ];
    const log = createWriteStream(opts.logPath, { flags: "a" });
    const t0 = performance.now();
    const child = spawn(process.execPath, args, {
      cwd: path.dirname(opts.configPath),
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout?.pipe(log, { end: false });
    child.stderr?.pipe(log, { end: false });
    const bridge = new BenchBridge(child, log, opts.baseUrl, path.dirname(opts.configPath));
    const deadline = Date.now() + (opts.healthTimeoutMs ?? 60_000);
    while (true) {
      if (bridge.exited) throw new Error(`bridge exited before it was ready; see ${opts.logPath}`);
      if (Date.now() > deadline) {
        child.kill("SIGKILL");
        throw new Error(`bridge not ready in time; see ${opts.logPath}`);
      }
      try {
        const res = await fetch(`${opts.baseUrl}/health`, { signal: AbortSignal.timeout(1000) });
        if (res.status === 200) break;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    bridge.readyMs = performance.now() - t0;
    return bridge;
  }

  /** Items in the bridge's delivery queue, from /health. */
  async queueDepth(): Promise<number> {
    const res = await fetch(`${this.baseUrl}/health`);
    const body = (await res.json()) as { queue?: number };
    return body.queue ?? 0;
  }

  /** Resolves once the delivery queue is empty (polling /health), or rejects after `timeoutMs`. */
  async drained(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while ((await this.queueDepth()) > 0) {
      if (Date.now() > deadline) throw new Error(`bridge queue not drained within ${timeoutMs} ms`);
      // Each poll is a request the bridge serves: not too often, it would show in its CPU.
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** V8 heap in use (MiB), from the bridge's own /metrics. */
  async heapUsedMiB(): Promise<number | undefined> {
    try {
      const text = await (await fetch(`${this.baseUrl}/metrics`)).text();
      const m = /^clawbridge_nodejs_heap_size_used_bytes (\S+)$/m.exec(text);
      return m ? Number(m[1]) / 2 ** 20 : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * Asks for a heap snapshot (the child must run with `--heapsnapshot-signal=SIGUSR2`); V8 does
   * a full garbage collection first. Resolves true once the file is complete, then removes it.
   */
  async heapSnapshot(timeoutMs: number): Promise<boolean> {
    const dir = this.cwd;
    const before = new Set(readdirSync(dir));
    this.child.kill("SIGUSR2");
    const deadline = Date.now() + timeoutMs;
    let last = -1;
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      const file = readdirSync(dir).find((f) => f.endsWith(".heapsnapshot") && !before.has(f));
      if (!file) continue;
      const size = statSync(path.join(dir, file)).size;
      if (size > 0 && size === last) {
        rmSync(path.join(dir, file), { force: true });
        return true;
      }
      last = size;
    }
    return false;
  }

  rss(): number | undefined {
    return rssMiB(this.pid);
  }

  /**
   * PSS (MiB) of the bridge process and of its embedded PostgreSQL (every process of the cluster,
   * all descendants of the bridge): what the whole bridge costs the machine in memory.
   */
  pss(): { bridge: number; postgres: number } {
    const bridge = pssMiB(this.pid) ?? 0;
    const postgres = descendants(this.pid).reduce((s, p) => s + (pssMiB(p) ?? 0), 0);
    return { bridge, postgres };
  }

  /** CPU seconds of the bridge process itself and of its children (embedded PostgreSQL). */
  cpu(): { bridge: number; children: number } {
    const bridge = cpuSeconds(this.pid) ?? 0;
    const children = descendants(this.pid).reduce((s, p) => s + (cpuSeconds(p, true) ?? 0), 0);
    return { bridge, children };
  }

  /** SIGTERM and wait (SIGKILL after 15 s); a clean exit writes --cpu-prof profiles. */
  async stop(): Promise<void> {
    if (this.exited) return;
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 15_000);
    await this.done;
    clearTimeout(timer);
    this.log.end();
  }
}

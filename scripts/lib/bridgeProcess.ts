import { type ChildProcess, spawn } from "node:child_process";
import { appendFileSync, existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { load } from "js-yaml";
import { registerLog } from "./logRegistry";
import { guardGroup, signalGroup } from "./orphanGuard";
import { REPO_ROOT } from "./synapse";

const HEALTH_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 10_000;

/** Options of {@link BridgeProcess.start}. */
export interface BridgeStartOptions {
  /** Bridge config.yaml; `appservice.port` (and `bind_address`) tell where `/health` is served. */
  configPath: string;
  /** Appservice registration file given with `-r`. */
  registrationPath: string;
  /** Extra environment on top of this process's environment. */
  env?: Record<string, string>;
  /** Working directory of the child; default the repository root. */
  cwd?: string;
  /** Copy the child's output to this process's stdout as it arrives (the dev stack does). */
  echo?: boolean;
  /** How long to wait for `/health` (default 30 s). */
  healthTimeoutMs?: number;
}

/** How the child ended. */
export interface BridgeExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

function tail(text: string, lines = 60): string {
  return text.split("\n").slice(-lines).join("\n");
}

/** Reads `appservice.port` / `appservice.bind_address` from the bridge config. */
function healthUrl(configPath: string): string {
  const doc = load(readFileSync(configPath, "utf8")) as {
    appservice?: { port?: unknown; bind_address?: unknown };
  };
  const port = Number(doc?.appservice?.port);
  if (!Number.isInteger(port) || port <= 0) throw new Error(`${configPath}: appservice.port is missing`);
  const bind = doc.appservice?.bind_address;
  const host =
    typeof bind === "string" && bind !== "0.0.0.0" && bind !== "::" && bind !== "" ? bind : "127.0.0.1";
  return `http://${host.includes(":") ? `[${host}]` : host}:${port}/health`;
}

/** The real bridge CLI (`src/cli.ts start`) running as a child process under tsx. */
export class BridgeProcess {
  private buffer = "";
  private exitInfo: BridgeExit | undefined;
  private readonly exited: Promise<BridgeExit>;

  private constructor(
    private readonly child: ChildProcess,
    /** File that receives everything the child writes (`bridge-<n>.log` next to the config). */
    readonly logPath: string,
    /** URL of the bridge's health endpoint. */
    readonly healthUrl: string,
    echo: boolean,
  ) {
    const onData = (chunk: Buffer) => {
      const text = chunk.toString("utf8");
      this.buffer += text;
      appendFileSync(logPath, text);
      if (echo) process.stdout.write(text);
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    const release = guardGroup(child);
    this.exited = new Promise((resolve) => {
      child.once("exit", (code, signal) => {
        this.exitInfo = { code, signal };
        release();
        resolve(this.exitInfo);
      });
    });
  }

  /**
   * Spawns `node --require tsx/cjs src/cli.ts start -c <config> -r <registration>` and waits until `/health`
   * answers 200. Rejects with the tail of the output on timeout (30 s) or when the process exits first.
   */
  static async start(opts: BridgeStartOptions): Promise<BridgeProcess> {
    const configPath = path.resolve(opts.configPath);
    const url = healthUrl(configPath);
    let n = 1;
    while (existsSync(path.join(path.dirname(configPath), `bridge-${n}.log`))) n += 1;
    const logPath = path.join(path.dirname(configPath), `bridge-${n}.log`);
    const args = [
      "--require",
      require.resolve("tsx/cjs"),
      path.join(REPO_ROOT, "src", "cli.ts"),
      "start",
      "-c",
      configPath,
      "-r",
      path.resolve(opts.registrationPath),
    ];
    const child = spawn(process.execPath, args, {
      cwd: opts.cwd ?? REPO_ROOT,
      env: { ...process.env, ...opts.env },
      stdio: ["ignore", "pipe", "pipe"],
      // Its own process group (with its embedded PostgreSQL): see orphanGuard.
      detached: true,
    });
    const bridge = new BridgeProcess(child, logPath, url, opts.echo ?? false);
    registerLog(`bridge (pid ${child.pid})`, logPath);
    child.once("error", (err) => {
      bridge.buffer += `\n[spawn error] ${err.message}\n`;
    });
    const timeoutMs = opts.healthTimeoutMs ?? HEALTH_TIMEOUT_MS;
    const deadline = Date.now() + timeoutMs;
    while (true) {
      if (bridge.exitInfo) {
        const how = bridge.exitInfo.signal ?? `code ${bridge.exitInfo.code}`;
        throw new Error(
          `bridge exited (${how}) before ${url} answered; output tail:\n${tail(bridge.buffer)}`,
        );
      }
      if (Date.now() > deadline) {
        bridge.kill();
        throw new Error(
          `bridge did not answer ${url} within ${timeoutMs} ms; output tail:\n${tail(bridge.buffer)}`,
        );
      }
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
        if (res.status === 200) return bridge;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Process id of the child. */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /** True until the child has exited. */
  get running(): boolean {
    return this.exitInfo === undefined;
  }

  /** Everything the child wrote to stdout and stderr so far. */
  output(): string {
    return this.buffer;
  }

  /** Sends a signal (default SIGKILL: a crash) without waiting. */
  kill(signal: NodeJS.Signals = "SIGKILL"): void {
    if (this.running) this.child.kill(signal);
  }

  /** SIGTERM and wait for the exit (SIGKILL to its process group after 10 s). */
  async stop(): Promise<BridgeExit> {
    if (!this.running) return this.exited;
    this.child.kill("SIGTERM");
    // A bridge that does not stop in time is killed with its group (its PostgreSQL).
    const timer = setTimeout(() => signalGroup(this.child, "SIGKILL"), STOP_GRACE_MS);
    const exit = await this.exited;
    clearTimeout(timer);
    return exit;
  }

  /** Resolves when the child exits (immediately if it already has). */
  waitForExit(): Promise<BridgeExit> {
    return this.exited;
  }
}

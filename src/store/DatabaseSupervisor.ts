import { Logger } from "../log/Logger";

/** Where the supervisor reports the database's state (the bridge's health tracker). */
export interface DatabaseStateReporter {
  up(): void;
  down(reason: string): void;
}

/** The embedded server as the supervisor sees it; absent for an external database. */
export interface SupervisedServer {
  /** False once the server process has exited. */
  alive(): boolean;
  /** How it ended ("killed by SIGKILL", "exit code 1"), once it has. */
  exitReason(): string | undefined;
  /** Starts it again on the same port and data directory; rejects when it does not come up. */
  restart(): Promise<void>;
}

export interface RestartPolicyOptions {
  /** Restart attempts in one series before giving up. */
  maxAttempts: number;
  /** Delay before the first attempt; doubles for each further one, up to `maxDelayMs`. */
  initialDelayMs: number;
  maxDelayMs: number;
  /** A server that stays up this long after a restart starts a new series when it dies again. */
  stableAfterMs: number;
}

export const DEFAULT_RESTART_POLICY: RestartPolicyOptions = {
  maxAttempts: 6,
  initialDelayMs: 250,
  maxDelayMs: 8_000,
  stableAfterMs: 60_000,
};

/**
 * Bounded restarts with backoff. A series of attempts begins when the server dies; a server
 * that dies again soon after a restart (a crash loop) continues the series, so a server that
 * cannot stay up also runs out of attempts.
 */
export class RestartPolicy {
  private attempts = 0;
  private upSince?: number;

  constructor(
    readonly opts: RestartPolicyOptions = DEFAULT_RESTART_POLICY,
    private readonly now: () => number = Date.now,
  ) {}

  /** The server died. */
  died(): void {
    if (this.upSince !== undefined && this.now() - this.upSince >= this.opts.stableAfterMs) this.attempts = 0;
    this.upSince = undefined;
  }

  /** The delay before the next attempt, or undefined when the attempts are used up. */
  nextDelay(): number | undefined {
    if (this.attempts >= this.opts.maxAttempts) return undefined;
    this.attempts++;
    return Math.min(this.opts.initialDelayMs * 2 ** (this.attempts - 1), this.opts.maxDelayMs);
  }

  /** A restart brought the server up. */
  started(): void {
    this.upSince = this.now();
  }

  /** Attempts made in the current series. */
  get attemptsMade(): number {
    return this.attempts;
  }
}

export interface DatabaseSupervisorOptions {
  /** Connects and runs a trivial query; rejects when the database cannot be reached. */
  probe(): Promise<void>;
  /** Lets go of what the probe holds (its connection); called by stop(). */
  closeProbe?(): void;
  reporter?: DatabaseStateReporter;
  /** The embedded server to restart when it dies; absent for an external database. */
  server?: SupervisedServer;
  policy?: RestartPolicy;
  /** Called with a non-zero code when the server cannot be brought back: a service manager restarts the bridge. */
  exit?(code: number): void;
  /** How often the database is checked while up, and while down. */
  intervalMs?: number;
  downIntervalMs?: number;
  log?: Logger;
}

/**
 * Watches the database: a periodic cheap probe (and one at once when something failed)
 * reports it up or down; an embedded server that died is restarted on the same port and data
 * directory with bounded retries, so the connection pool's URL stays valid and work resumes
 * by itself. When the restarts keep failing, it says why and exits the process non-zero.
 */
export class DatabaseSupervisor {
  private readonly log: Logger;
  private readonly policy: RestartPolicy;
  private timer?: NodeJS.Timeout;
  private checking?: Promise<void>;
  private stopped = false;
  private wake?: () => void;

  constructor(private readonly opts: DatabaseSupervisorOptions) {
    this.log = opts.log ?? new Logger("DatabaseSupervisor");
    this.policy = opts.policy ?? new RestartPolicy();
  }

  start(): void {
    this.stopped = false;
    this.schedule(this.opts.intervalMs ?? 5_000);
  }

  /** Checks now: the server exited, or a connection failed. A check under way is not repeated. */
  checkNow(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.checking ??= this.check().finally(() => {
      this.checking = undefined;
    });
    return this.checking;
  }

  /** No more checks and no more restarts (a restart under way finishes on its own). */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.wake?.();
    this.opts.closeProbe?.();
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.checkNow(), ms);
    this.timer.unref();
  }

  private async check(): Promise<void> {
    const { server, reporter } = this.opts;
    let down = false;
    if (server && !server.alive()) {
      down = !(await this.restart(server.exitReason() ?? "process exited"));
    }
    if (!down && !this.stopped) {
      try {
        await this.opts.probe();
        if (!this.stopped) reporter?.up();
      } catch (err) {
        down = true;
        if (!this.stopped) reporter?.down(reasonOf(err));
        // The exit may not have been seen yet (the probe failed first): look again.
        if (server && !server.alive() && !this.stopped) {
          this.schedule(0);
          return;
        }
      }
    }
    this.schedule(down ? (this.opts.downIntervalMs ?? 1_000) : (this.opts.intervalMs ?? 5_000));
  }

  /** Brings the dead server back; false when stopped meanwhile. Exits when attempts run out. */
  private async restart(why: string): Promise<boolean> {
    const { server, reporter } = this.opts;
    if (!server) return false;
    this.log.error("embedded PostgreSQL exited; restarting it", { why });
    reporter?.down(`embedded PostgreSQL exited (${why}); restarting it`);
    this.policy.died();
    let lastError = why;
    while (!this.stopped) {
      const delay = this.policy.nextDelay();
      if (delay === undefined) {
        const attempts = this.policy.attemptsMade;
        this.log.error(
          "embedded PostgreSQL could not be restarted; exiting so that the service manager restarts the bridge",
          { attempts, lastError },
        );
        reporter?.down(`embedded PostgreSQL could not be restarted after ${attempts} attempts: ${lastError}`);
        this.stopped = true;
        (this.opts.exit ?? ((code: number) => process.exit(code)))(1);
        return false;
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, delay);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.wake = undefined;
      if (this.stopped) return false;
      try {
        await server.restart();
        this.policy.started();
        this.log.info("embedded PostgreSQL restarted", { attempt: this.policy.attemptsMade });
        return true;
      } catch (err) {
        lastError = reasonOf(err);
        this.log.warn("embedded PostgreSQL did not restart", {
          attempt: this.policy.attemptsMade,
          err: lastError,
        });
        reporter?.down(
          `embedded PostgreSQL is restarting (attempt ${this.policy.attemptsMade}): ${lastError}`,
        );
      }
    }
    return false;
  }
}

function reasonOf(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as { code?: unknown }).code;
  // PostgreSQL's start-up output can follow the first line: keep the first line only.
  const first = err.message.split("\n")[0] || "failed";
  return typeof code === "string" && !first.includes(code) ? `${first} (${code})` : first;
}

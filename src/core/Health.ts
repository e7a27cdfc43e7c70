import { Logger } from "../log/Logger";
import { getVersions, versionsUrl } from "../matrix/waitForHomeserver";
import { type HttpAnswer, HttpCallError } from "./httpCall";

const log = new Logger("Health");

/** What one dependency (the database, the homeserver) looks like from the bridge right now. */
export interface DependencyStatus {
  state: "up" | "down";
  /** When it went down (ISO time); absent while up. */
  since?: string;
  /** Why it is down, in words an operator can act on; absent while up. */
  reason?: string;
}

/** The handle a watcher of one dependency reports through. Repeats are cheap and not logged. */
export interface DependencyReporter {
  up(): void;
  down(reason: string): void;
}

/**
 * The bridge's view of its dependencies, for `/health`: each is up or down (since when, and
 * why). A dependency counts as up until someone reports otherwise; the first report of a
 * change is logged, a repeat is not.
 */
export class Health {
  private readonly deps = new Map<string, DependencyStatus>();
  private readonly listeners: Array<(name: string, status: DependencyStatus) => void> = [];

  constructor(private readonly now: () => Date = () => new Date()) {}

  /** The reporter for `name`; registering it makes the dependency appear in the report. */
  dependency(name: string): DependencyReporter {
    if (!this.deps.has(name)) this.deps.set(name, { state: "up" });
    return {
      up: () => this.set(name, { state: "up" }),
      down: (reason) => {
        const was = this.deps.get(name);
        // `since` is when it went down, not the latest failure; a new reason is recorded.
        const since = was?.state === "down" && was.since ? was.since : this.now().toISOString();
        this.set(name, { state: "down", since, reason });
      },
    };
  }

  /** Called on every change of state (not on a repeat), after it is recorded. */
  onChange(listener: (name: string, status: DependencyStatus) => void): void {
    this.listeners.push(listener);
  }

  status(name: string): DependencyStatus | undefined {
    const s = this.deps.get(name);
    return s && { ...s };
  }

  /** True when every dependency is up. */
  get allUp(): boolean {
    for (const s of this.deps.values()) if (s.state !== "up") return false;
    return true;
  }

  /**
   * The `/health` answer: `ok` only when the bridge is ready and every dependency is up. The
   * detail names each dependency; its `status` is "ok", "degraded" (ready, a dependency down),
   * "stopping", or absent before the bridge is ready (the listener then says "starting").
   */
  report(
    phase: "starting" | "ready" | "stopping",
    extra: Record<string, unknown> = {},
  ): { ok: boolean; detail: Record<string, unknown> } {
    const detail: Record<string, unknown> = {};
    for (const [name, s] of this.deps) detail[name] = { ...s };
    Object.assign(detail, extra);
    if (phase === "starting") return { ok: false, detail };
    if (phase === "stopping") return { ok: false, detail: { status: "stopping", ...detail } };
    const ok = this.allUp;
    return { ok, detail: { status: ok ? "ok" : "degraded", ...detail } };
  }

  private set(name: string, next: DependencyStatus): void {
    const was = this.deps.get(name);
    this.deps.set(name, next);
    if (was?.state === next.state && was.reason === next.reason) return;
    if (next.state === "down") log.warn(`${name} is unreachable`, { reason: next.reason, since: next.since });
    else if (was?.state === "down") log.info(`${name} is reachable again`, { downSince: was.since });
    if (was?.state === next.state) return;
    for (const l of this.listeners) {
      try {
        l(name, { ...next });
      } catch (err) {
        log.error("health listener failed", { err });
      }
    }
  }
}

/**
 * Checks one dependency every `intervalMs` (every `downIntervalMs` while it is down, so its
 * return is seen soon) and reports the outcome. `check` must settle within `timeoutMs`; a
 * check that takes longer counts as failed. Timers are unref'd: a probe never keeps the
 * process alive.
 */
export class Probe {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private stopped = false;
  private down = false;

  constructor(
    private readonly opts: {
      reporter: DependencyReporter;
      check(signal: AbortSignal): Promise<void>;
      intervalMs: number;
      downIntervalMs?: number;
      timeoutMs: number;
      /** The reason reported for a failed check; default the error's message. */
      describe?(err: unknown): string;
    },
  ) {}

  start(): void {
    this.stopped = false;
    this.schedule(this.opts.intervalMs);
  }

  /** Checks now (a failure was seen elsewhere); a check under way is not repeated. */
  checkNow(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.running ??= this.run().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.checkNow(), ms);
    this.timer.unref();
  }

  private async run(): Promise<void> {
    const { reporter, timeoutMs } = this.opts;
    const abort = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        abort.abort();
        reject(new Error(`no answer within ${timeoutMs} ms`));
      }, timeoutMs);
    });
    try {
      await Promise.race([this.opts.check(abort.signal), timeout]);
      this.down = false;
      if (!this.stopped) reporter.up();
    } catch (err) {
      this.down = true;
      if (!this.stopped) reporter.down(this.opts.describe?.(err) ?? describeError(err));
    } finally {
      clearTimeout(timer);
    }
    this.schedule(this.down ? (this.opts.downIntervalMs ?? this.opts.intervalMs) : this.opts.intervalMs);
  }
}

/** A short reason from an error: its message, with the cause's code or message when that says more. */
export function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause as { code?: unknown; message?: unknown } | undefined;
  const code = (err as { code?: unknown }).code ?? cause?.code;
  const message = err.message || (typeof cause?.message === "string" ? cause.message : "failed");
  return typeof code === "string" && !message.includes(code) ? `${message} (${code})` : message;
}

/**
 * The homeserver as the bridge sees it: `GET /_matrix/client/versions` (no auth, cheap). Any
 * HTTP answer below 500 means it is reachable; a refused connection, a timeout or a 5xx mean not.
 */
export function homeserverCheck(homeserverUrl: string): (signal: AbortSignal) => Promise<void> {
  const url = versionsUrl(homeserverUrl);
  return async (signal) => {
    // Over the bridge's kept-alive homeserver connections: a check every few seconds then costs
    // no new connection.
    let res: HttpAnswer;
    try {
      res = await getVersions(homeserverUrl, { signal, timeoutMs: 30_000 });
    } catch (err) {
      const code = err instanceof HttpCallError ? err.code : undefined;
      throw new Error(`cannot reach ${url}${code ? ` (${code})` : ""}`, { cause: err });
    }
    if (res.status >= 500) throw new Error(`${url} answered HTTP ${res.status}`);
  };
}

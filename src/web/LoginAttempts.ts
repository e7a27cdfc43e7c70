import { randomBytes } from "node:crypto";
import { runInteractiveLogin } from "../commands/accounts";
import { BoundedMap } from "../core/Bounded";
import type { ConnectorRegistry } from "../core/ConnectorRegistry";
import type { LoginPrompt } from "../core/connector";
import { HourlyStarts } from "./HourlyStarts";

/** One step of an interactive login as the page shows it. */
export interface LoginStep {
  /** Position in the attempt, from 0. */
  n: number;
  /** `text`: a notice; `image`: a QR code to show (a data URL); `retract`: take image `handle` away. */
  kind: "text" | "image" | "retract";
  text?: string;
  image?: string;
  handle?: string;
}

export interface LoginAttempt {
  id: string;
  owner: string;
  platform: string;
  steps: LoginStep[];
  /** Set when the attempt ended: logged in (with the login's id) or not. */
  outcome?: { ok: boolean; loginId?: string };
}

/** How long a finished attempt can still be read. */
const KEEP_FINISHED_MS = 10 * 60_000;

/**
 * Interactive logins started from the web page. The connector's own login (the one the
 * `login` command runs) produces the steps through a {@link LoginPrompt} that records them; the
 * page reads them by long polling. An attempt is visible to its owner only. Starts are limited
 * per user and hour, and a user runs one attempt per platform at a time.
 */
export class LoginAttempts {
  private readonly attempts = new BoundedMap<string, LoginAttempt>(1_000);
  private readonly waiters = new Map<string, Set<() => void>>();
  private readonly starts: HourlyStarts;

  constructor(
    private readonly opts: {
      registry: ConnectorRegistry;
      perHour: number;
      now?: () => number;
    },
  ) {
    this.starts = new HourlyStarts(opts.perHour, opts.now);
  }

  /**
   * Starts `owner`'s login to `platform` (`args` as the command takes them: a phone number for a
   * pairing code). Refused when the platform has no interactive login, when one is running, or
   * past the hourly limit (`retryAfterMs`).
   */
  start(
    owner: string,
    platform: string,
    args: string[],
  ): LoginAttempt | { refused: "no-interactive" | "running" | "limited"; retryAfterMs?: number } {
    const connector = this.opts.registry.connectors.get(platform);
    if (!connector?.loginInteractive) return { refused: "no-interactive" };
    // A snapshot: get() moves an entry to the end of the map, which would never let a live loop end.
    for (const key of [...this.attempts.keys()]) {
      const a = this.attempts.get(key)!;
      if (a.owner === owner && a.platform === platform && !a.outcome) return { refused: "running" };
    }
    const started = this.starts.take(owner);
    if (!started.ok) return { refused: "limited", retryAfterMs: started.retryAfterMs };
    const attempt: LoginAttempt = { id: randomBytes(16).toString("base64url"), owner, platform, steps: [] };
    this.attempts.set(attempt.id, attempt);
    const push = (step: Omit<LoginStep, "n">) => {
      attempt.steps.push({ n: attempt.steps.length, ...step });
      this.wake(attempt.id);
    };
    let images = 0;
    const prompt: LoginPrompt = {
      say: async (text) => push({ kind: "text", text }),
      image: async (media, body) => {
        const handle = `qr${images++}`;
        push({
          kind: "image",
          text: body,
          handle,
          image: `data:${media.mimetype};base64,${media.data.toString("base64")}`,
        });
        return handle;
      },
      retract: async (handle) => push({ kind: "retract", handle }),
    };
    void runInteractiveLogin(this.opts.registry, owner, platform, connector, args, prompt)
      .then((login) => ({ ok: login !== undefined, loginId: login?.id }))
      .catch(() => ({ ok: false }))
      .then((outcome) => {
        attempt.outcome = outcome;
        this.wake(attempt.id);
        setTimeout(() => this.attempts.delete(attempt.id), KEEP_FINISHED_MS).unref();
      });
    return attempt;
  }

  /** `owner`'s attempt `id`; another user's attempt is as unknown as one that never was. */
  get(id: string, owner: string): LoginAttempt | undefined {
    const a = this.attempts.get(id);
    return a?.owner === owner ? a : undefined;
  }

  /** Waits at most `timeoutMs` for a step past `after` or the outcome; returns the attempt. */
  async wait(attempt: LoginAttempt, after: number, timeoutMs: number): Promise<LoginAttempt> {
    if (attempt.steps.length > after || attempt.outcome) return attempt;
    await new Promise<void>((resolve) => {
      const set = this.waiters.get(attempt.id) ?? new Set();
      this.waiters.set(attempt.id, set);
      const done = () => {
        clearTimeout(timer);
        set.delete(done);
        if (!set.size) this.waiters.delete(attempt.id);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      set.add(done);
    });
    return attempt;
  }

  private wake(id: string): void {
    for (const w of [...(this.waiters.get(id) ?? [])]) w();
  }
}

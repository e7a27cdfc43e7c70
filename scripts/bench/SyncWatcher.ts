/**
 * A Matrix client that only long-polls /sync and notes, for each message event carrying a
 * benchmark marker in its body, when it was first seen. Kept lean (no state, no members, no
 * ephemeral) so the observer itself costs the homeserver as little as possible.
 */

/** Body marker of benchmark messages: `bench:<tag>:<seq>` anywhere in the body. */
export const MARKER = /bench:([a-z0-9-]+):(\d+)/;

const FILTER = JSON.stringify({
  room: {
    state: { types: [] },
    timeline: { limit: 1000, types: ["m.room.message"] },
    ephemeral: { types: [] },
    account_data: { types: [] },
  },
  presence: { types: [] },
  account_data: { types: [] },
});

interface SyncBody {
  next_batch: string;
  rooms?: {
    join?: Record<
      string,
      {
        timeline?: {
          limited?: boolean;
          events?: Array<{ sender?: string; content?: { body?: unknown } }>;
        };
      }
    >;
  };
}

export class SyncWatcher {
  /** `<tag>:<seq>` → performance.now() when first seen, and the sender. */
  readonly seen = new Map<string, { at: number; sender: string; roomId: string }>();
  /**
   * Timelines that came back `limited` in a room the watcher had already seen (events may have
   * been skipped; a limited timeline on joining is normal). Lost markers count as loss anyway.
   */
  limited = 0;
  private readonly rooms = new Set<string>();
  private readonly abort = new AbortController();
  private stopped = false;
  private readonly waiters = new Map<string, () => void>();
  private loop?: Promise<void>;

  constructor(
    private readonly baseUrl: string,
    private readonly token: string,
  ) {}

  /** Does an initial sync (so only later events count), then keeps polling in the background. */
  async start(): Promise<void> {
    const first = await this.sync(undefined, 0);
    this.loop = this.run(first.next_batch);
  }

  private async sync(since: string | undefined, timeout: number): Promise<SyncBody> {
    const q = new URLSearchParams({ filter: FILTER, timeout: String(timeout) });
    if (since) q.set("since", since);
    const res = await fetch(`${this.baseUrl}/_matrix/client/v3/sync?${q}`, {
      headers: { authorization: `Bearer ${this.token}` },
      signal: this.abort.signal,
    });
    if (!res.ok) throw new Error(`sync: ${res.status} ${await res.text()}`);
    return (await res.json()) as SyncBody;
  }

  private async run(since: string): Promise<void> {
    let next = since;
    while (!this.stopped) {
      let body: SyncBody;
      try {
        body = await this.sync(next, 30_000);
      } catch (err) {
        if (this.stopped) return;
        process.stderr.write(`[watcher] ${String(err)}\n`);
        await new Promise((r) => setTimeout(r, 200));
        continue;
      }
      const at = performance.now();
      next = body.next_batch;
      for (const [roomId, room] of Object.entries(body.rooms?.join ?? {})) {
        if (room.timeline?.limited && this.rooms.has(roomId)) this.limited++;
        this.rooms.add(roomId);
        for (const e of room.timeline?.events ?? []) {
          const body = e.content?.body;
          if (typeof body !== "string") continue;
          const m = MARKER.exec(body);
          if (!m) continue;
          const key = `${m[1]}:${m[2]}`;
          if (this.seen.has(key)) continue;
          this.seen.set(key, { at, sender: e.sender ?? "", roomId });
          this.waiters.get(key)?.();
        }
      }
    }
  }

  /** Resolves with the time `key` was first seen (now or later); rejects after `timeoutMs`. */
  waitFor(key: string, timeoutMs = 30_000): Promise<number> {
    const hit = this.seen.get(key);
    if (hit) return Promise.resolve(hit.at);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(key);
        reject(new Error(`watcher: ${key} not seen within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.set(key, () => {
        clearTimeout(timer);
        this.waiters.delete(key);
        resolve(this.seen.get(key)!.at);
      });
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    await this.loop?.catch(() => undefined);
  }
}

/**
 * Inbound bookkeeping per Discord channel (a thread is a channel of its own): one serial lane
 * of tasks, and the id of the last message the core accepted (`last:<channel>`, with the list
 * of such channels under `channels`), which catch-up reads from.
 */
import type { ConnectorStore } from "../../src/core/connector";
import type { Logger } from "../../src/log/Logger";

/** Snowflakes are time-ordered: a larger id is a later message. */
export const later = (a: string, b: string): boolean => BigInt(a) > BigInt(b);

export class ChannelLanes {
  private readonly lanes = new Map<string, Promise<void>>();
  private readonly last = new Map<string, string>();
  /** Channels where a message could not be handed to the core: their last id stays put. */
  private readonly behind = new Set<string>();

  constructor(
    private readonly store: ConnectorStore,
    private readonly log: Logger,
  ) {}

  /** Runs `task` after everything queued for the channel; a failure is logged, not thrown. */
  run(channelId: string, task: () => Promise<void>): Promise<void> {
    const prev = this.lanes.get(channelId) ?? Promise.resolve();
    const next = prev.then(task).catch((err: unknown) =>
      this.log.warn("discord: inbound event failed", {
        channel: channelId,
        err: err instanceof Error ? err.message : String(err),
      }),
    );
    this.lanes.set(channelId, next);
    void next.then(() => {
      if (this.lanes.get(channelId) === next) this.lanes.delete(channelId);
    });
    return next;
  }

  /** Resolves when every lane is idle. */
  async idle(): Promise<void> {
    await Promise.all([...this.lanes.values()]);
  }

  async lastOf(channelId: string): Promise<string | undefined> {
    return this.last.get(channelId) ?? ((await this.store.kvGet(`last:${channelId}`)) || undefined);
  }

  /** Records a delivered message; ignored while the channel is behind. */
  async markSeen(channelId: string, id: string): Promise<void> {
    if (this.behind.has(channelId)) return;
    const prev = await this.lastOf(channelId);
    if (prev && !later(id, prev)) return;
    this.last.set(channelId, id);
    await this.store.kvSet(`last:${channelId}`, id);
    if (!prev) {
      const known = await this.known();
      if (!known.includes(channelId))
        await this.store.kvSet("channels", JSON.stringify([...known, channelId]));
    }
  }

  /**
   * A message of the channel could not be handed to the core: later messages still go out,
   * but the last id stays before it until a catch-up has gone through the channel again.
   */
  fellBehind(channelId: string): void {
    this.behind.add(channelId);
  }

  isBehind(channelId: string): boolean {
    return this.behind.has(channelId);
  }

  caughtUp(channelId: string): void {
    this.behind.delete(channelId);
  }

  /** Channels with a last id, for catch-up. */
  async known(): Promise<string[]> {
    try {
      const v = JSON.parse((await this.store.kvGet("channels")) ?? "[]") as unknown;
      return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
    } catch {
      return [];
    }
  }
}

/**
 * A channel's recent history for a new portal: GET /channels/{id}/messages pages newest first
 * (at most 100 a page, `before` the oldest seen), turned oldest first. Thread messages live in
 * their thread channels and are not read: a thread's replies come over as they are posted.
 */
import type { Message } from "discord.js";
import { later } from "./ChannelLanes";

/** What the history reader needs of a text channel (discord.js `channel.messages`). */
export interface HistoryChannel {
  messages: {
    fetch(opts: { limit: number; before?: string; cache: boolean }): Promise<{ values(): Iterable<Message> }>;
  };
}

/** Messages per page: Discord's largest. */
const PAGE = 100;

/** The newest `limit` messages of the channel, oldest first. */
export async function channelHistory(channel: HistoryChannel, limit: number): Promise<Message[]> {
  const out: Message[] = [];
  let before: string | undefined;
  while (out.length < limit) {
    const want = Math.min(PAGE, limit - out.length);
    const page = [...(await channel.messages.fetch({ limit: want, before, cache: false })).values()];
    // Newest first as Discord answers; sorted all the same, and nothing at or after the cursor.
    const older = page
      .filter((m) => before === undefined || later(before, m.id))
      .sort((a, b) => (later(a.id, b.id) ? -1 : 1));
    out.push(...older);
    if (older.length < want) break;
    before = older[older.length - 1]!.id;
  }
  return out.slice(0, limit).reverse();
}

/**
 * The message map read by remote id, the read every inbound message makes before it is sent
 * (was it bridged already?): concurrent reads (different chats delivering at once) share one
 * statement, as {@link GroupWrite} does for writes, instead of each paying a round trip.
 *
 * Most inbound messages are new, and newer than anything of their chat: per chat it keeps a
 * ceiling, a key at or above the order key of every row (read once, raised before every write of
 * this process, which is the only writer), so a message whose order key is above it has no row
 * and needs no read. The ceiling may only be too high (a write that then failed), never too low.
 */
import type pg from "pg";
import { BoundedMap } from "../core/Bounded";
import { GroupWrite } from "./GroupWrite";
import { MESSAGE_COLS, type MessageDb, named, toMessage } from "./pgRows";
import type { MessageRow } from "./types";

const SQL_ONE = `SELECT ${MESSAGE_COLS} FROM message
  WHERE platform = $1 AND chat_id = $2 AND remote_id = $3 ORDER BY part`;
// Each row comes back with the position of the key it answers.
const SQL_MANY = `SELECT ${MESSAGE_COLS}, k.ord FROM unnest($1::text[], $2::text[], $3::text[])
    WITH ORDINALITY AS k(platform, chat_id, remote_id, ord)
  JOIN message USING (platform, chat_id, remote_id)
  ORDER BY k.ord, part`;

const SQL_CEILING = "SELECT max(order_key) AS ceiling FROM message WHERE platform = $1 AND chat_id = $2";

type Key = [platform: string, chatId: string, remoteId: string];

/** Keys compared as JavaScript strings agree with PostgreSQL's "C" collation only in ASCII. */
const ASCII = /^[\x20-\x7e]*$/;
const higher = (a: string | undefined, b: string): string => (a !== undefined && a > b ? a : b);
const chatOf = (platform: string, chatId: string) => `${platform}\n${chatId}`;

export class MessageLookup {
  private readonly reads = new GroupWrite<Key, Map<Key, MessageRow[]>>(async (keys) => {
    const out = new Map<Key, MessageRow[]>(keys.map((k) => [k, []]));
    if (keys.length === 1) {
      const rows = (await this.pool.query<MessageDb>(named("message_by_remote", SQL_ONE, keys[0]!))).rows;
      out.set(keys[0]!, rows.map(toMessage));
      return out;
    }
    const { rows } = await this.pool.query<MessageDb & { ord: string }>(
      named("messages_by_remotes", SQL_MANY, [
        keys.map((k) => k[0]),
        keys.map((k) => k[1]),
        keys.map((k) => k[2]),
      ]),
    );
    for (const r of rows) out.get(keys[Number(r.ord) - 1]!)?.push(toMessage(r));
    return out;
  });

  /** Per chat, the ceiling ("" when no row has a key); chats forgotten are read again. */
  private readonly ceilings = new BoundedMap<string, string>(20_000);
  /** Ceilings being read, with what writes raised them to meanwhile. */
  private readonly loading = new Map<string, { raised?: string; done: Promise<string | undefined> }>();

  constructor(
    private readonly pool: pg.Pool,
    /** Until the writes under way are done: a read never misses a row being written. */
    private readonly writesSettled: () => Promise<void> = async () => undefined,
  ) {}

  async byRemote(
    platform: string,
    chatId: string,
    remoteId: string,
    orderKey?: string,
  ): Promise<MessageRow[]> {
    if (orderKey !== undefined && ASCII.test(orderKey)) {
      const ceiling = await this.ceiling(platform, chatId);
      if (ceiling !== undefined && orderKey > ceiling) return [];
    }
    await this.writesSettled();
    const key: Key = [platform, chatId, remoteId];
    return (await this.reads.add(key)).get(key) ?? [];
  }

  /** Rows about to be written: their chats' ceilings go up first (a read never sees them lower). */
  raise(rows: ReadonlyArray<{ platform: string; chatId: string; orderKey?: string }>): void {
    for (const r of rows) {
      if (r.orderKey === undefined) continue;
      const chat = chatOf(r.platform, r.chatId);
      const load = this.loading.get(chat);
      if (load) load.raised = higher(load.raised, r.orderKey);
      const known = this.ceilings.get(chat);
      if (known !== undefined) this.ceilings.set(chat, higher(known, r.orderKey));
    }
  }

  private ceiling(platform: string, chatId: string): Promise<string | undefined> {
    const chat = chatOf(platform, chatId);
    const known = this.ceilings.get(chat);
    if (known !== undefined) return Promise.resolve(known);
    const under = this.loading.get(chat);
    if (under) return under.done;
    const load: { raised?: string; done: Promise<string | undefined> } = { done: Promise.resolve(undefined) };
    load.done = (async () => {
      try {
        // Rows written before this read began but not committed yet would be missed: wait for them
        // (those begun after are in `raised`).
        await this.writesSettled();
        const { rows } = await this.pool.query<{ ceiling: string | null }>(
          named("message_order_ceiling", SQL_CEILING, [platform, chatId]),
        );
        const ceiling = higher(load.raised, rows[0]?.ceiling ?? "");
        if (!ASCII.test(ceiling)) return undefined; // not comparable here: always read
        this.ceilings.set(chat, ceiling);
        return ceiling;
      } finally {
        this.loading.delete(chat);
      }
    })();
    this.loading.set(chat, load);
    return load.done;
  }
}

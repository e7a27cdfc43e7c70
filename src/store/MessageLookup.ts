/**
 * The message map read by remote id, the read every inbound message makes before it is sent
 * (was it bridged already?): concurrent reads (different chats delivering at once) share one
 * statement, as {@link GroupWrite} does for writes, instead of each paying a round trip.
 */
import type pg from "pg";
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

type Key = [platform: string, chatId: string, remoteId: string];

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

  constructor(private readonly pool: pg.Pool) {}

  async byRemote(platform: string, chatId: string, remoteId: string): Promise<MessageRow[]> {
    const key: Key = [platform, chatId, remoteId];
    return (await this.reads.add(key)).get(key) ?? [];
  }
}

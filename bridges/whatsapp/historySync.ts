/**
 * What WhatsApp's history sync brought: when a device is linked, the phone sends the recent
 * history of its chats (baileys: `messaging-history.set`). It is kept here, per chat, as the
 * messages a live delivery would have made, until a portal is made for the chat and the core asks
 * for its history (backfill). In memory only: after a restart, chats without a portal yet start
 * with their live messages (WhatsApp sends history once per linked device).
 */
import type { WAMessage } from "@whiskeysockets/baileys";
import type { RemoteMessage } from "../../src/core/connector";
import { type MapperContext, mapMessage } from "./inbound";

/** Most messages kept per chat (the newest), and most chats kept. */
export const HISTORY_PER_CHAT = 1000;
export const HISTORY_CHATS = 5000;

export class SyncedHistory {
  private readonly chats = new Map<string, Map<string, RemoteMessage>>();

  /**
   * Keeps the messages of a history sync chunk (any order, any chats); returns how many were new.
   * What cannot be mapped, and the bridge's own echoes, are left out; other events (reactions,
   * edits) have no place in a backfill.
   */
  keep(ctx: MapperContext, messages: readonly WAMessage[]): number {
    let added = 0;
    for (const m of messages) {
      let events: ReturnType<typeof mapMessage>;
      try {
        events = mapMessage(ctx, m);
      } catch {
        continue; // a message baileys decoded but we cannot read: as live, skipped
      }
      for (const ev of events) {
        if (ev.kind !== "message" || ev.fromSelf) continue;
        let chat = this.chats.get(ev.chat.id);
        if (!chat) {
          if (this.chats.size >= HISTORY_CHATS) continue;
          chat = new Map();
          this.chats.set(ev.chat.id, chat);
        }
        if (chat.has(ev.id)) continue;
        chat.set(ev.id, ev);
        added++;
        if (chat.size > HISTORY_PER_CHAT) {
          const oldest = [...chat.values()].sort((a, b) => a.timestamp - b.timestamp)[0]!;
          chat.delete(oldest.id);
        }
      }
    }
    return added;
  }

  /** The newest `limit` kept messages of the chat, oldest first. */
  recent(chatId: string, limit: number): RemoteMessage[] {
    const chat = this.chats.get(chatId);
    if (!chat || limit <= 0) return [];
    return [...chat.values()].sort((a, b) => a.timestamp - b.timestamp).slice(-limit);
  }
}

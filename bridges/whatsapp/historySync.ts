/**
 * What WhatsApp's history sync brought: when a device is linked, the phone sends the recent
 * history of its chats (baileys: `messaging-history.set`). It is kept here, per chat, as the
 * messages a live delivery would have made, until a portal is made for the chat and the core asks
 * for its history (backfill). It is stored too (the connector's kv, `history:<chat>`): WhatsApp
 * sends history once per linked device, so a bridge restarted (or killed) before the chat's
 * portal was made, or in the middle of its backfill, still has it. Media of history messages can
 * be fetched only while the process that received them runs.
 */
import type { WAMessage } from "@whiskeysockets/baileys";
import type { RemoteMessage } from "../../src/core/connector";
import { type MapperContext, mapMessage } from "./inbound";

/** Most messages kept per chat (the newest), and most chats kept. */
export const HISTORY_PER_CHAT = 1000;
export const HISTORY_CHATS = 5000;

/** Where kept history is stored (the connector's kv). */
export interface HistoryStore {
  kvGet(key: string): Promise<string | undefined>;
  kvSet(key: string, value: string): Promise<void>;
}

const storeKey = (chatId: string) => `history:${chatId}`;

export class SyncedHistory {
  private readonly chats = new Map<string, Map<string, RemoteMessage>>();
  /** Chats with messages not stored yet. */
  private readonly dirty = new Set<string>();

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
        this.dirty.add(ev.chat.id);
        added++;
        if (chat.size > HISTORY_PER_CHAT) {
          const oldest = [...chat.values()].sort((a, b) => a.timestamp - b.timestamp)[0]!;
          chat.delete(oldest.id);
        }
      }
    }
    return added;
  }

  /** Stores the chats that got messages since the last call. */
  async store(store: HistoryStore): Promise<void> {
    const chats = [...this.dirty];
    this.dirty.clear();
    for (const id of chats)
      await store.kvSet(storeKey(id), JSON.stringify(this.recent(id, HISTORY_PER_CHAT)));
  }

  /**
   * The newest `limit` messages of the chat, oldest first, from memory or else from the store
   * (an earlier process received them). What the store holds is checked again by the core.
   */
  async recentStored(store: HistoryStore, chatId: string, limit: number): Promise<RemoteMessage[]> {
    if (!this.chats.has(chatId)) {
      const raw = await store.kvGet(storeKey(chatId));
      let stored: unknown;
      try {
        stored = raw === undefined ? [] : JSON.parse(raw);
      } catch {
        stored = [];
      }
      if (Array.isArray(stored) && stored.length && !this.chats.has(chatId)) {
        const chat = new Map<string, RemoteMessage>();
        for (const m of stored as RemoteMessage[])
          if (typeof m?.id === "string" && typeof m.timestamp === "number") chat.set(m.id, m);
        this.chats.set(chatId, chat);
      }
    }
    return this.recent(chatId, limit);
  }

  /** The newest `limit` kept messages of the chat, oldest first. */
  recent(chatId: string, limit: number): RemoteMessage[] {
    const chat = this.chats.get(chatId);
    if (!chat || limit <= 0) return [];
    return [...chat.values()].sort((a, b) => a.timestamp - b.timestamp).slice(-limit);
  }
}

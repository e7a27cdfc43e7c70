import type { RawEvent } from "./MatrixTestClient";

/** One event of an E2eeClient's per-room timeline, decrypted when it arrived encrypted. */
export interface E2eeEvent {
  roomId: string;
  eventId: string;
  sender: string;
  /** The decrypted type for encrypted events; `m.room.encrypted` while undecryptable. */
  type: string;
  /** The decrypted content; for an undecryptable event the ciphertext envelope's content. */
  content: Record<string, unknown>;
  stateKey?: string;
  originServerTs?: number;
  /** True when the event arrived as `m.room.encrypted` (decrypted or not). */
  encrypted: boolean;
  /** Present while the event cannot be decrypted; a later room key replaces the entry with the decrypted one. */
  utd?: { code: string; message: string };
  /** Device id the crypto attributes an encrypted event to. */
  senderDevice?: string;
  /** The event as the server delivered it (for encrypted events the `m.room.encrypted` envelope). */
  raw: RawEvent;
}

interface Waiter {
  roomId: string;
  match: (e: E2eeEvent) => boolean;
  resolve: (e: E2eeEvent) => void;
}

function line(e: E2eeEvent): string {
  const body = typeof e.content.body === "string" ? ` ${JSON.stringify(e.content.body.slice(0, 60))}` : "";
  const how = e.utd ? ` UTD(${e.utd.code})` : e.encrypted ? " [encrypted]" : "";
  return `  ${e.type}${how} from ${e.sender}${body} (${e.eventId})`;
}

/** Events per room in arrival order, with waiters that also see an entry replaced once it decrypts. */
export class DecryptedTimeline {
  private readonly rooms = new Map<string, E2eeEvent[]>();
  private readonly waiters = new Set<Waiter>();

  events(roomId: string): E2eeEvent[] {
    return [...(this.rooms.get(roomId) ?? [])];
  }

  has(roomId: string, eventId: string): boolean {
    return (this.rooms.get(roomId) ?? []).some((e) => e.eventId === eventId);
  }

  add(e: E2eeEvent): void {
    const list = this.rooms.get(e.roomId) ?? [];
    this.rooms.set(e.roomId, list);
    list.push(e);
    this.notify(e);
  }

  /** Puts `e` in the place of the entry with the same event id (an undecryptable one, now decrypted). */
  replace(e: E2eeEvent): void {
    const list = this.rooms.get(e.roomId) ?? [];
    const i = list.findIndex((old) => old.eventId === e.eventId);
    if (i < 0) return;
    list[i] = e;
    this.notify(e);
  }

  /** First entry (seen or later) matching `predicate`; rejects after `timeoutMs` with the room's last events. */
  waitFor(
    roomId: string,
    predicate: (e: E2eeEvent) => boolean,
    timeoutMs: number,
    who: () => string,
  ): Promise<E2eeEvent> {
    const hit = this.events(roomId).find(predicate);
    if (hit) return Promise.resolve(hit);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        roomId,
        match: predicate,
        resolve: (e) => {
          clearTimeout(timer);
          this.waiters.delete(waiter);
          resolve(e);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        const seen = this.events(roomId).slice(-30).map(line).join("\n");
        reject(new Error(`${who()}: no matching event in ${roomId} within ${timeoutMs} ms; seen:\n${seen}`));
      }, timeoutMs);
      this.waiters.add(waiter);
    });
  }

  private notify(e: E2eeEvent): void {
    for (const w of [...this.waiters]) if (w.roomId === e.roomId && w.match(e)) w.resolve(e);
  }
}

/**
 * The disappearing-messages timer of each chat as this client last saw it, to tell the core of
 * a timer it may not know: a chat whose timer was set before the bridge saw it (before the link,
 * or before its portal existed) shows it only in its messages' `contextInfo.expiration` and in a
 * group's metadata (`ephemeralDuration`). The core says nothing when it knew the timer already.
 */

import { BoundedMap } from "../../src/core/Bounded";
import type { RemoteDisappearingChange, RemoteEvent, RemoteUserRef } from "../../src/core/connector";

export class ChatTimers {
  private readonly seen = new BoundedMap<string, number>(10_000);

  /**
   * Notes the events of one message (a setting change) and the timer the message was sent with;
   * returns the event to emit after them when that timer is news.
   */
  afterMessage(events: RemoteEvent[], timer: number | undefined): RemoteDisappearingChange | undefined {
    for (const ev of events) if (ev.kind === "disappearing") this.seen.set(ev.chat.id, ev.seconds);
    const msg = events.find((e) => e.kind === "message");
    if (!msg || !timer || msg.fromSelf) return undefined;
    return this.changed(msg.chat.id, timer, msg.sender, msg.timestamp);
  }

  /** A chat's timer read from its metadata; the event to emit when it is news. */
  changed(
    chatId: string,
    seconds: number,
    sender: RemoteUserRef,
    timestamp: number,
  ): RemoteDisappearingChange | undefined {
    if (this.seen.get(chatId) === seconds) return undefined;
    this.seen.set(chatId, seconds);
    return { kind: "disappearing", chat: { id: chatId }, sender, timestamp, seconds };
  }
}

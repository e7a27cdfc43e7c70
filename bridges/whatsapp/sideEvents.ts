/**
 * baileys' receipt, presence and group events → RemoteEvents (pure apart from baileys types).
 */
import type { BaileysEventMap } from "@whiskeysockets/baileys";
import type { RemoteEvent } from "../../src/core/connector";
import type { MapperContext } from "./inbound";
import { chatIdOf, userIdOf } from "./jids";

const now = () => Date.now();

export const mapSideEvents = {
  /** Read receipts of the other side (delivery receipts are not bridged). */
  receipts(ctx: MapperContext, updates: BaileysEventMap["message-receipt.update"]): RemoteEvent[] {
    const out: RemoteEvent[] = [];
    for (const { key, receipt } of updates) {
      if (!key.id || !key.remoteJid || !receipt.userJid || !receipt.readTimestamp) continue;
      const chat = { id: chatIdOf(ctx.ownNumber, key.remoteJidAlt ?? key.remoteJid) };
      out.push({
        kind: "read",
        chat,
        sender: { id: userIdOf(receipt.userJid) },
        timestamp: now(),
        upTo: key.id,
      });
    }
    return out;
  },

  /** "composing" starts typing; anything else ("paused", "available") ends it. */
  presence(ctx: MapperContext, p: BaileysEventMap["presence.update"]): RemoteEvent[] {
    const chat = { id: chatIdOf(ctx.ownNumber, p.id) };
    return Object.entries(p.presences)
      .filter(([jid]) => userIdOf(jid) !== ctx.ownNumber)
      .map(([jid, data]) => ({
        kind: "typing" as const,
        chat,
        sender: { id: userIdOf(jid) },
        timestamp: now(),
        typing: data.lastKnownPresence === "composing" || data.lastKnownPresence === "recording",
      }));
  },

  /** Subject and description changes. */
  groups(ctx: MapperContext, updates: BaileysEventMap["groups.update"]): RemoteEvent[] {
    const out: RemoteEvent[] = [];
    for (const g of updates) {
      if (!g.id) continue;
      const info: { name?: string; topic?: string } = {};
      if (typeof g.subject === "string") info.name = g.subject;
      if (typeof g.desc === "string") info.topic = g.desc;
      if (!Object.keys(info).length) continue;
      const who = g.subjectOwnerPn ?? g.subjectOwner ?? g.owner;
      out.push({
        kind: "chat-info",
        chat: { id: chatIdOf(ctx.ownNumber, g.id) },
        sender: { id: who ? userIdOf(who) : ctx.ownNumber },
        timestamp: now(),
        info,
      });
    }
    return out;
  },

  /** Participants added or removed (promotions do not change Matrix membership). */
  participants(ctx: MapperContext, g: BaileysEventMap["group-participants.update"]): RemoteEvent[] {
    if (g.action !== "add" && g.action !== "remove") return [];
    const author = g.authorPn ?? g.author;
    return g.participants.map((p) => {
      const target = { id: userIdOf(p.phoneNumber ?? p.id) };
      const sender = author ? { id: userIdOf(author) } : target;
      const self = sender.id === target.id;
      return {
        kind: "member" as const,
        chat: { id: chatIdOf(ctx.ownNumber, g.id) },
        sender,
        timestamp: now(),
        target,
        membership: g.action === "add" ? ("join" as const) : self ? ("leave" as const) : ("kick" as const),
      };
    });
  },
};

import { isLive } from "../matrix/live";
import type { RoomEvent } from "../matrix/MatrixApi";
import { DELETED_IN } from "./InboundBridge";
import { POLL_END_TYPES, POLL_RESPONSE_TYPES } from "./polls";
import { POLL_START_TYPES } from "./richContent";

/*
 * A room's event reaches each linked chat through a queue item of its own (its lane is the
 * room and chat), so one platform's refusal or outage holds back none of the others.
 */

type Content = Record<string, unknown>;

/** Payload key of a queue item for one linked chat: `{ platform, chat_id }`. */
export const PORTAL_TARGET = "com.clawbridge.portal";

export interface PortalTarget {
  platform: string;
  chat_id: string;
}

function chatOf(v: unknown): PortalTarget | undefined {
  if (typeof v !== "object" || v === null) return undefined;
  const t = v as Record<string, unknown>;
  return typeof t.platform === "string" && typeof t.chat_id === "string"
    ? { platform: t.platform, chat_id: t.chat_id }
    : undefined;
}

/** The linked chat a queued event is for; undefined for a room's event not yet fanned out. */
export function targetOf(payload: unknown): PortalTarget | undefined {
  return typeof payload === "object" && payload !== null
    ? chatOf((payload as Content)[PORTAL_TARGET])
    : undefined;
}

/** The chat where a message was deleted, for the redaction the bridge made of it. */
export function deletedInOf(ev: RoomEvent): PortalTarget | undefined {
  return ev.type === "m.room.redaction" ? chatOf((ev.content as Content)[DELETED_IN]) : undefined;
}

/** An intermediate edit of a streamed answer: it stays in Matrix (the final edit goes out). */
export function isLiveEdit(ev: RoomEvent): boolean {
  const c = ev.content as Content;
  return ((c["m.relates_to"] ?? {}) as Content).rel_type === "m.replace" && isLive(c);
}

/** Event types relayed to platforms (everything else stays in Matrix). */
export const RELAYED_TYPES = new Set([
  "m.room.message",
  "m.sticker",
  "m.reaction",
  "m.room.redaction",
  "m.room.member",
  "m.room.name",
  "m.room.topic",
  "m.room.avatar",
  // Polls go out natively where the platform has polls (else as text); their end stops a
  // native poll; a vote goes out only as its voter's own (a personal login), never by a bot.
  ...POLL_START_TYPES,
  ...POLL_END_TYPES,
  ...POLL_RESPONSE_TYPES,
]);

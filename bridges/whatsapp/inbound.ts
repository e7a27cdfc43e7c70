/**
 * baileys events → RemoteEvents. Pure apart from the loaded baileys module: what the socket
 * emitted goes in, the events for the core come out; nothing is sent anywhere.
 */
import type { proto, WAMessage, WAMessageKey } from "@whiskeysockets/baileys";
import type { MediaRef, RemoteChatRef, RemoteEvent, RemoteUserRef } from "../../src/core/connector";
import { timerSeconds } from "../../src/core/Disappearing";
import { baileys } from "./baileys";
import { whatsappToHtml } from "./convert/format";
import { richOf } from "./convert/rich";
import { chatIdOf, isGroupJid, userIdOf } from "./jids";

/** What the mapper needs to know about the login. */
export interface MapperContext {
  /** The account's phone number. */
  ownNumber: string;
  /** Ids of messages this bridge sent (their echoes are marked `fromSelf`). */
  sentByBridge(id: string): boolean;
  /** The Matrix id of a WhatsApp user's ghost, for mention pills. */
  ghostUserId?(number: string): string;
  /** View-once media: told as a notice (default) or bridged. */
  viewOnce?: "notice" | "bridge";
  /** Disappearing messages carry their timer, for the core to redact them in Matrix (`disappearing.redact`). */
  redactDisappearing?: boolean;
  /** Reports a part of a message that was ignored (a timer that is no number of seconds). */
  warn?(text: string, context: Record<string, unknown>): void;
}

/**
 * A disappearing-messages timer as WhatsApp states it (`contextInfo.expiration`,
 * `protocolMessage.ephemeralExpiration`: seconds, 0 for off): its seconds, or undefined for a
 * value that is none (negative, fractional, too large, not a number).
 */
export function ephemeralSeconds(value: unknown): number | undefined {
  const n =
    value !== null &&
    typeof value === "object" &&
    typeof (value as { toNumber?: unknown }).toNumber === "function"
      ? (value as { toNumber(): unknown }).toNumber()
      : value;
  // 0 is "off"; any other value is taken by the core's rule for timers.
  return n === 0 ? 0 : timerSeconds(n);
}

/** Whether the message is view-once (its wrapper, or the flag on its media). */
export function isViewOnce(m: proto.IMessage | null | undefined, inner: proto.IMessage): boolean {
  if (m?.viewOnceMessage || m?.viewOnceMessageV2 || m?.viewOnceMessageV2Extension) return true;
  const media = mediaOf(inner)?.media as { viewOnce?: boolean | null } | undefined;
  return media?.viewOnce === true;
}

/** A media message kept for {@link MediaRef} `key` `msg:<id>` until the core fetches it. */
export type MediaKind =
  | "imageMessage"
  | "videoMessage"
  | "audioMessage"
  | "documentMessage"
  | "stickerMessage";
export const MEDIA_KINDS: readonly MediaKind[] = [
  "imageMessage",
  "videoMessage",
  "audioMessage",
  "documentMessage",
  "stickerMessage",
];

const EXT: Record<MediaKind, string> = {
  imageMessage: "jpg",
  videoMessage: "mp4",
  audioMessage: "ogg",
  documentMessage: "bin",
  stickerMessage: "webp",
};

const toMs = (t: unknown): number => {
  const n =
    typeof t === "number"
      ? t
      : t && typeof (t as { toNumber?: () => number }).toNumber === "function"
        ? (t as { toNumber(): number }).toNumber()
        : Number(t);
  return Number.isFinite(n) && n > 0 ? n * 1000 : Date.now();
};

/** The phone-number JID of a key's chat or participant, preferring it over a privacy id. */
function pn(jid: string | null | undefined, alt: string | null | undefined): string {
  if (jid?.endsWith("@lid") && alt) return alt;
  return jid ?? "";
}

function chatOf(ctx: MapperContext, key: WAMessageKey): RemoteChatRef {
  return { id: chatIdOf(ctx.ownNumber, pn(key.remoteJid, key.remoteJidAlt)) };
}

function senderOf(ctx: MapperContext, key: WAMessageKey): RemoteUserRef {
  if (key.fromMe) return { id: ctx.ownNumber };
  const remote = pn(key.remoteJid, key.remoteJidAlt);
  const jid = isGroupJid(remote) ? pn(key.participant, key.participantAlt) : remote;
  return { id: userIdOf(jid) };
}

/** The message inside the wrappers WhatsApp puts around it (ephemeral, view once, …). */
export function unwrap(m: proto.IMessage | null | undefined): proto.IMessage | undefined {
  return baileys().normalizeMessageContent(m) ?? undefined;
}

function textOf(m: proto.IMessage): string | undefined {
  return m.conversation ?? m.extendedTextMessage?.text ?? undefined;
}

function contextOf(m: proto.IMessage): proto.IContextInfo | undefined {
  for (const v of Object.values(m)) {
    const ci = (v as { contextInfo?: proto.IContextInfo } | null)?.contextInfo;
    if (ci) return ci;
  }
  return undefined;
}

/** The media part of a message, if it has one. */
export function mediaOf(m: proto.IMessage):
  | {
      kind: MediaKind;
      media: proto.Message.IImageMessage & proto.Message.IDocumentMessage & proto.Message.IAudioMessage;
    }
  | undefined {
  for (const kind of MEDIA_KINDS) {
    const media = m[kind];
    if (media) return { kind, media: media as never };
  }
  return undefined;
}

function mediaRef(
  id: string,
  kind: MediaKind,
  media: {
    mimetype?: string | null;
    fileName?: string | null;
    fileLength?: unknown;
    ptt?: boolean | null;
    width?: number | null;
    height?: number | null;
    seconds?: number | null;
    waveform?: Uint8Array | null;
    jpegThumbnail?: Uint8Array | null;
  },
): MediaRef {
  const mimetype = media.mimetype?.split(";")[0] ?? "application/octet-stream";
  const base = kind === "audioMessage" && media.ptt ? "voice" : kind.replace("Message", "");
  const size = Number(media.fileLength ?? 0) || undefined;
  const ref: { -readonly [K in keyof MediaRef]: MediaRef[K] } = {
    key: `msg:${id}`,
    mimetype,
    name: media.fileName ?? `${base}.${EXT[kind]}`,
    size,
  };
  if (media.width && media.height) Object.assign(ref, { width: media.width, height: media.height });
  if (typeof media.seconds === "number" && media.seconds > 0) ref.durationMs = media.seconds * 1000;
  // A video carries its thumbnail inline: a small JPEG WhatsApp shows before it plays.
  if (kind === "videoMessage" && media.jpegThumbnail?.length)
    ref.thumbnail = { base64: Buffer.from(media.jpegThumbnail).toString("base64") };
  if (base === "voice") {
    ref.voice = true;
    // WhatsApp's waveform is 64 samples of 0–100; Matrix takes 0–1024.
    if (media.waveform?.length)
      ref.waveform = [...media.waveform]
        .slice(0, 256)
        .map((v) => Math.round((Math.min(v, 100) / 100) * 1024));
  }
  return ref;
}

/**
 * One received or echoed message → its events (usually one). A disappearing message (one whose
 * `contextInfo.expiration` is set) carries its timer when `ctx.redactDisappearing`.
 */
export function mapMessage(ctx: MapperContext, msg: WAMessage): RemoteEvent[] {
  const events = mapContent(ctx, msg);
  const expiration = events.some((e) => e.kind === "message") ? expirationOf(msg) : undefined;
  if (expiration === undefined || expiration === null || expiration === 0) return events;
  const seconds = ephemeralSeconds(expiration);
  if (seconds === 0) return events;
  if (seconds === undefined) {
    ctx.warn?.("disappearing-message timer that is no number of seconds ignored; the message is kept", {
      id: msg.key.id,
      expiration: String(expiration).slice(0, 40),
    });
    return events;
  }
  if (!ctx.redactDisappearing) return events;
  return events.map((e) => (e.kind === "message" ? { ...e, expiresInSeconds: seconds } : e));
}

/** A message's `contextInfo.expiration` as it came (unchecked); undefined for none. */
function expirationOf(msg: WAMessage): unknown {
  const content = unwrap(msg.message);
  return content && !content.protocolMessage ? (contextOf(content)?.expiration ?? undefined) : undefined;
}

/**
 * The timer a disappearing message was sent with (its valid, positive `contextInfo.expiration`
 * in seconds), whatever `disappearing.redact` says; undefined for any other message.
 */
export function messageTimer(msg: WAMessage): number | undefined {
  return ephemeralSeconds(expirationOf(msg)) || undefined;
}

function mapContent(ctx: MapperContext, msg: WAMessage): RemoteEvent[] {
  const key = msg.key;
  const id = key.id;
  if (!id || !key.remoteJid || key.remoteJid === "status@broadcast") return [];
  const content = unwrap(msg.message);
  if (!content) return [];
  const chat = chatOf(ctx, key);
  const sender = senderOf(ctx, key);
  const base = {
    chat,
    sender,
    timestamp: toMs(msg.messageTimestamp),
    fromSelf: key.fromMe === true && ctx.sentByBridge(id),
    senderInfo: !key.fromMe && msg.pushName ? { displayName: msg.pushName } : undefined,
  };
  const protocol = content.protocolMessage;
  if (protocol) {
    const P = baileys().proto.Message.ProtocolMessage.Type;
    if (protocol.type === P.EPHEMERAL_SETTING) {
      // The chat's timer (a group's arrives so too: baileys makes its notification this message).
      const seconds = ephemeralSeconds(protocol.ephemeralExpiration ?? 0);
      if (seconds !== undefined) return [{ ...base, kind: "disappearing", seconds }];
      ctx.warn?.("disappearing-messages setting with a timer that is no number of seconds ignored", {
        id,
        expiration: String(protocol.ephemeralExpiration).slice(0, 40),
      });
      return [];
    }
    const target = protocol.key?.id;
    if (!target) return [];
    if (protocol.type === P.REVOKE) return [{ ...base, kind: "delete", id: target }];
    if (protocol.type === P.MESSAGE_EDIT && protocol.editedMessage) {
      const edited = unwrap(protocol.editedMessage);
      const text = (edited && (textOf(edited) ?? mediaOf(edited)?.media.caption)) ?? "";
      const html = whatsappToHtml(text, edited ? mentionsOf(ctx, edited) : undefined);
      return [{ ...base, kind: "edit", id: target, text, html }];
    }
    return [];
  }
  const reaction = content.reactionMessage;
  if (reaction) {
    const target = reaction.key?.id;
    if (!target) return [];
    return reaction.text
      ? [{ ...base, kind: "reaction", target, key: reaction.text }]
      : [{ ...base, kind: "reaction-remove", target, key: "" }];
  }
  const pollUpdate = content.pollUpdateMessage;
  if (pollUpdate) {
    const target = pollUpdate.pollCreationMessageKey?.id;
    // Encrypted: the client, which keeps each poll's key, reads the answers (polls.ts).
    return target ? [{ ...base, kind: "poll-vote", target, answers: [] }] : [];
  }
  const replyTo = contextOf(content)?.stanzaId ?? undefined;
  const media = mediaOf(content);
  if (media && ctx.viewOnce !== "bridge" && isViewOnce(msg.message, content)) {
    // Meant to be seen once and gone: not fetched, so never stored in Matrix.
    const what =
      { imageMessage: "photo", videoMessage: "video", audioMessage: "voice message" }[media.kind as string] ??
      "message";
    return [
      {
        ...base,
        kind: "message",
        id,
        text: `${msg.pushName || "Someone"} sent a view-once ${what}: open it on the phone (the bridge does not keep view-once media)`,
        msgtype: "notice",
        replyTo,
      },
    ];
  }
  if (media) {
    const caption = media.media.caption ?? "";
    return [
      {
        ...base,
        kind: "message",
        id,
        text: caption,
        html: caption ? whatsappToHtml(caption, mentionsOf(ctx, content)) : undefined,
        replyTo,
        attachments: [mediaRef(id, media.kind, media.media)],
      },
    ];
  }
  const text = textOf(content);
  if (text === undefined) {
    // Places, contacts and polls in their Matrix form; other kinds said plainly, never dropped.
    const type = baileys().getContentType(content) ?? "message";
    const rich = richOf(content, type, msg.pushName ?? "");
    const out: RemoteEvent = { ...base, kind: "message", id, text: rich.text, replyTo };
    if (rich.msgtype) out.msgtype = rich.msgtype;
    if (rich.location) out.location = rich.location;
    if (rich.poll) out.poll = rich.poll;
    if (rich.attachments) out.attachments = rich.attachments;
    return [out];
  }
  return [
    { ...base, kind: "message", id, text, html: whatsappToHtml(text, mentionsOf(ctx, content)), replyTo },
  ];
}

/** The Matrix users a message mentions (`contextInfo.mentionedJid`), by phone number. */
function mentionsOf(ctx: MapperContext, m: proto.IMessage): Map<string, string> | undefined {
  const jids = contextOf(m)?.mentionedJid;
  if (!ctx.ghostUserId || !Array.isArray(jids) || !jids.length) return undefined;
  const out = new Map<string, string>();
  for (const jid of jids.slice(0, 100)) {
    if (typeof jid !== "string") continue;
    const number = userIdOf(jid);
    if (/^\d{5,20}$/.test(number)) out.set(number, ctx.ghostUserId(number));
  }
  return out;
}

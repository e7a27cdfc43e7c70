/**
 * A Matrix message → the content baileys' `sendMessage` takes. Pure: formatting, the relay
 * prefix and media kinds are decided here.
 */
import type { AnyMessageContent } from "@whiskeysockets/baileys";
import type { OutboundMessage } from "../../src/core/connector";
import { htmlToWhatsappWithMentions } from "./convert/format";
import { jidOfUser } from "./jids";

/** WhatsApp takes media of up to 16 MB; larger images are downscaled to it. */
export const IMAGE_LIMITS = { maxBytes: 16_000_000 } as const;

/** The number behind a Matrix user who is a WhatsApp user's ghost; undefined for anyone else. */
export type NumberOf = (mxid: string) => string | undefined;

/**
 * The text of a Matrix message in WhatsApp formatting, with `prefix` (a relayed sender) in
 * front, and the JIDs of the WhatsApp users its pills mention.
 */
export function outboundText(
  msg: OutboundMessage,
  prefix: string,
  numberOf?: NumberOf,
): { text: string; mentions: string[] } {
  const converted = msg.html
    ? htmlToWhatsappWithMentions(msg.html, numberOf)
    : { text: msg.text, mentions: [] as string[] };
  const text = msg.msgtype === "emote" ? `_${converted.text}_` : converted.text;
  return { text: prefix + text, mentions: converted.mentions.map(jidOfUser) };
}

export function outboundContent(
  msg: OutboundMessage,
  prefix: string,
  numberOf?: NumberOf,
): AnyMessageContent {
  const { text, mentions: jids } = outboundText(msg, prefix, numberOf);
  const mentions = jids.length ? { mentions: jids } : {};
  const a = msg.attachment;
  // `linkPreview: null`: baileys would otherwise fetch every URL in the text to build a preview
  // (the bridge reaching out to links from Matrix), and log a warning for each one it cannot.
  if (!a) return { text, linkPreview: null, ...mentions };
  const caption = text || undefined;
  const { data, mimetype, name } = a.media;
  switch (a.kind) {
    case "image":
      return { image: data, mimetype, caption, ...mentions };
    case "video":
      return { video: data, mimetype, caption, ...mentions };
    case "audio":
      // Opus in Ogg is what WhatsApp records: it becomes a voice note, as a Matrix voice message does.
      return {
        audio: data,
        mimetype,
        ptt: a.voice === true || /ogg|opus/.test(mimetype),
        seconds: a.durationMs ? Math.round(a.durationMs / 1000) : undefined,
      };
    case "sticker":
      return { sticker: data, mimetype };
    default:
      return { document: data, mimetype, fileName: name, caption, ...mentions };
  }
}

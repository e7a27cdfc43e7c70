/**
 * A Matrix message → the content baileys' `sendMessage` takes. Pure: formatting, the relay
 * prefix and media kinds are decided here.
 */
import type { AnyMessageContent } from "@whiskeysockets/baileys";
import type { OutboundMessage } from "../../src/core/connector";
import { htmlToWhatsapp } from "./convert/format";

/** The text of a Matrix message in WhatsApp formatting, with `prefix` (a relayed sender) in front. */
export function outboundText(msg: OutboundMessage, prefix: string): string {
  let text = msg.html ? htmlToWhatsapp(msg.html) : msg.text;
  if (msg.msgtype === "emote") text = `_${text}_`;
  return prefix + text;
}

export function outboundContent(msg: OutboundMessage, prefix: string): AnyMessageContent {
  const text = outboundText(msg, prefix);
  const a = msg.attachment;
  // `linkPreview: null`: baileys would otherwise fetch every URL in the text to build a preview
  // (the bridge reaching out to links from Matrix), and log a warning for each one it cannot.
  if (!a) return { text, linkPreview: null };
  const caption = text || undefined;
  const { data, mimetype, name } = a.media;
  switch (a.kind) {
    case "image":
      return { image: data, mimetype, caption };
    case "video":
      return { video: data, mimetype, caption };
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
      return { document: data, mimetype, fileName: name, caption };
  }
}

import type { Message } from "grammy/types";

/** How a piece of Telegram media is treated on the Matrix side. */
export type TelegramMediaKind = "image" | "video" | "audio" | "voice" | "file" | "sticker" | "animation";

/** The one media attachment of a Telegram message, enough to download it and describe it to Matrix. */
export interface TelegramMedia {
  kind: TelegramMediaKind;
  fileId: string;
  fileUniqueId: string;
  mimetype: string;
  name: string;
  size?: number;
  width?: number;
  height?: number;
  durationMs?: number;
  /** A Lottie `.tgs` sticker, which Matrix clients cannot show without conversion. */
  animatedSticker?: boolean;
  /** The still Telegram made of a video, animation or round video (a JPEG PhotoSize). */
  thumbnail?: { fileId: string; width?: number; height?: number; size?: number };
}

/** A PhotoSize that names a file, as a thumbnail; undefined for anything else. */
function thumbOf(t: unknown): TelegramMedia["thumbnail"] {
  if (typeof t !== "object" || t === null) return undefined;
  const p = t as { file_id?: unknown; width?: unknown; height?: unknown; file_size?: unknown };
  if (typeof p.file_id !== "string" || p.file_id === "" || p.file_id.length > 256) return undefined;
  const n = (v: unknown) => (typeof v === "number" && Number.isInteger(v) && v > 0 ? v : undefined);
  const out: NonNullable<TelegramMedia["thumbnail"]> = { fileId: p.file_id };
  const [width, height, size] = [n(p.width), n(p.height), n(p.file_size)];
  if (width !== undefined && height !== undefined) Object.assign(out, { width, height });
  if (size !== undefined) out.size = size;
  return out;
}

/** The Matrix msgtypes media maps to. */
export type MatrixMediaMsgtype = "m.image" | "m.video" | "m.audio" | "m.file";

/** The Bot API methods that send media. */
export type TelegramSendMethod =
  | "sendPhoto"
  | "sendVideo"
  | "sendAudio"
  | "sendVoice"
  | "sendDocument"
  | "sendAnimation"
  | "sendSticker";

/** Formats sendPhoto accepts and re-encodes; SVG, TIFF and the like go as documents. */
const PHOTO_MIMES = new Set(["image/jpeg", "image/png", "image/webp", "image/bmp"]);

function seconds(duration: number | undefined): number | undefined {
  return duration === undefined ? undefined : duration * 1000;
}

/** Drop undefined fields so results compare and serialise cleanly. */
function media(m: TelegramMedia): TelegramMedia {
  return Object.fromEntries(Object.entries(m).filter(([, v]) => v !== undefined)) as unknown as TelegramMedia;
}

/**
 * The media a Telegram message carries, or undefined for text and non-file messages. Checked most specific
 * first: a GIF message carries both `animation` and `document`, and must come out as the animation.
 */
export function pickMedia(message: Message): TelegramMedia | undefined {
  const { sticker, animation, photo, video, video_note: note, voice, audio, document: doc } = message;
  const ids = (f: { file_id: string; file_unique_id: string; file_size?: number }) => ({
    fileId: f.file_id,
    fileUniqueId: f.file_unique_id,
    size: f.file_size,
  });
  if (sticker) {
    const dims = { width: sticker.width, height: sticker.height };
    if (sticker.is_animated) {
      const base = { kind: "file" as const, mimetype: "application/x-tgsticker", name: "sticker.tgs" };
      return media({ ...base, ...ids(sticker), ...dims, animatedSticker: true });
    }
    if (sticker.is_video) {
      return media({ kind: "file", mimetype: "video/webm", name: "sticker.webm", ...ids(sticker), ...dims });
    }
    return media({ kind: "sticker", mimetype: "image/webp", name: "sticker.webp", ...ids(sticker), ...dims });
  }
  if (animation) {
    return media({
      kind: "animation",
      mimetype: animation.mime_type ?? "video/mp4",
      name: animation.file_name ?? "animation.mp4",
      ...ids(animation),
      width: animation.width,
      height: animation.height,
      durationMs: seconds(animation.duration),
      thumbnail: thumbOf(animation.thumbnail),
    });
  }
  if (photo && photo.length > 0) {
    // Sizes come smallest first, but pick by area rather than trust the order.
    const best = photo.reduce((a, b) => (b.width * b.height > a.width * a.height ? b : a));
    return media({
      kind: "image",
      mimetype: "image/jpeg",
      name: "photo.jpg",
      ...ids(best),
      width: best.width,
      height: best.height,
    });
  }
  if (video) {
    return media({
      kind: "video",
      mimetype: video.mime_type ?? "video/mp4",
      name: video.file_name ?? "video.mp4",
      ...ids(video),
      width: video.width,
      height: video.height,
      durationMs: seconds(video.duration),
      thumbnail: thumbOf(video.thumbnail),
    });
  }
  if (note) {
    const side = note.length;
    const base = { kind: "video" as const, mimetype: "video/mp4", name: "video_note.mp4" };
    const thumbnail = thumbOf(note.thumbnail);
    return media({
      ...base,
      ...ids(note),
      width: side,
      height: side,
      durationMs: seconds(note.duration),
      thumbnail,
    });
  }
  if (voice) {
    const base = { kind: "voice" as const, mimetype: voice.mime_type ?? "audio/ogg", name: "voice.ogg" };
    return media({ ...base, ...ids(voice), durationMs: seconds(voice.duration) });
  }
  if (audio) {
    const name = audio.file_name ?? (audio.title ? `${audio.title}.mp3` : "audio.mp3");
    const base = { kind: "audio" as const, mimetype: audio.mime_type ?? "audio/mpeg", name };
    return media({ ...base, ...ids(audio), durationMs: seconds(audio.duration) });
  }
  if (doc) {
    const base = { kind: "file" as const, mimetype: doc.mime_type ?? "application/octet-stream" };
    return media({ ...base, name: doc.file_name ?? "file", ...ids(doc) });
  }
  return undefined;
}

/**
 * The text sent along with a sticker Matrix clients cannot show as a sticker: animated (Lottie
 * `.tgs`) stickers arrive as a file and video stickers as a WebM video, so the room also reads
 * what it is. Static stickers (WebP images) need no text.
 */
export function stickerFallbackText(message: Message): string | undefined {
  const s = message.sticker;
  if (!s || (!s.is_animated && !s.is_video)) return undefined;
  const what = s.is_animated ? "animated sticker" : "video sticker";
  const emoji = s.emoji ? ` ${s.emoji}` : "";
  const how = s.is_animated
    ? "attached as a .tgs file (Matrix clients cannot play it)"
    : "attached as a video";
  return `[${what}${emoji}] ${how}`;
}

/** The Matrix msgtype for a media kind; stickers go as images, animations as (looping) videos, voice as audio. */
export function matrixMsgtypeFor(kind: TelegramMediaKind): MatrixMediaMsgtype {
  switch (kind) {
    case "image":
    case "sticker":
      return "m.image";
    case "video":
    case "animation":
      return "m.video";
    case "audio":
    case "voice":
      return "m.audio";
    case "file":
      return "m.file";
  }
}

/**
 * The Bot API method for Matrix media: GIFs as animations, Ogg audio as voice notes, WebP/TGS/WebM stickers as
 * stickers (other sticker images as photos), MP4 as video; anything Telegram would not render goes as a document.
 */
export function telegramMethodFor(
  kind: "image" | "video" | "audio" | "file" | "sticker",
  mimetype: string,
  voice = false,
): TelegramSendMethod {
  const mime = mimetype.split(";")[0]!.trim().toLowerCase();
  if (mime === "image/gif") return "sendAnimation";
  switch (kind) {
    case "sticker":
      if (mime === "image/webp" || mime === "application/x-tgsticker" || mime === "video/webm")
        return "sendSticker";
      return PHOTO_MIMES.has(mime) ? "sendPhoto" : "sendDocument";
    case "image":
      return PHOTO_MIMES.has(mime) ? "sendPhoto" : "sendDocument";
    case "video":
      return mime === "video/mp4" ? "sendVideo" : "sendDocument";
    case "audio":
      if (mime === "audio/ogg" || mime === "audio/opus") return "sendVoice";
      // A voice message (MSC3245) in a format Telegram's voice notes also take.
      if (voice && (mime === "audio/mpeg" || mime === "audio/mp4" || mime === "audio/x-m4a"))
        return "sendVoice";
      return mime === "audio/mpeg" || mime === "audio/mp3" || mime === "audio/mp4" || mime === "audio/x-m4a"
        ? "sendAudio"
        : "sendDocument";
    case "file":
      return "sendDocument";
  }
}

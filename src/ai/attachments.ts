import { downscale } from "../core/downscale";
import { loadSharp } from "../core/sharp";
import { Logger } from "../log/Logger";
import type { DownloadOptions, MatrixApi, RoomEvent } from "../matrix/MatrixApi";
import { pdfText } from "./pdf";
import type { ChatImage } from "./providers/types";
import type { Transcriber } from "./Transcriber";
import { isEdit } from "./triggers";

const log = new Logger("AiAttachments");

type Content = Record<string, unknown>;

/** What an event's attachment became, ready for context assembly (keyed by event id). */
export type Attachment =
  | { kind: "image"; image: ChatImage }
  | { kind: "text"; text: string; truncated: boolean };

const TEXT_NAME = /\.(txt|md|csv|json|yaml|yml|ts|js|py|go|rs|java|c|h|sh|toml|ini|log)$/i;
const TEXT_MIME = /^(text\/[\w.+-]+|application\/json|application\/xml)$/i;

/** What the context makes of a file: an image, text (text-like files and PDFs' text), a transcript. */
export type AttachmentKind = "image" | "text" | "pdf" | "audio";

/**
 * The event's media kind as the context treats it: an image (m.image, m.sticker), a text-like
 * file, audio (voice messages and audio files, transcribed), or neither.
 */
export function attachmentKind(ev: RoomEvent): AttachmentKind | undefined {
  const c = ev.content as Content;
  if (ev.type === "m.sticker") return "image";
  if (ev.type !== "m.room.message") return undefined;
  if (c.msgtype === "m.image") return "image";
  if (c.msgtype === "m.audio") return "audio";
  if (c.msgtype !== "m.file") return undefined;
  const info = (c.info ?? {}) as Content;
  const mime = typeof info.mimetype === "string" ? info.mimetype.split(";")[0]!.trim() : "";
  const name = typeof c.filename === "string" ? c.filename : typeof c.body === "string" ? c.body : "";
  if (mime === "application/pdf" || /\.pdf$/i.test(name)) return "pdf";
  return TEXT_MIME.test(mime) || TEXT_NAME.test(name) ? "text" : undefined;
}

/** The image type from its first bytes (PNG, JPEG, GIF, WebP): what vision models take; undefined otherwise. */
export function sniffImage(data: Buffer): string | undefined {
  if (
    data.length >= 8 &&
    data.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))
  )
    return "image/png";
  if (data.length >= 3 && data[0] === 0xff && data[1] === 0xd8 && data[2] === 0xff) return "image/jpeg";
  if (data.length >= 6 && /^GIF8[79]a$/.test(data.subarray(0, 6).toString("latin1"))) return "image/gif";
  if (
    data.length >= 12 &&
    data.subarray(0, 4).toString("latin1") === "RIFF" &&
    data.subarray(8, 12).toString("latin1") === "WEBP"
  )
    return "image/webp";
  return undefined;
}

const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

/**
 * A file's text, or undefined when it is not text: NUL bytes or invalid UTF-8. `truncated`: the
 * bytes are the start of a longer file, so a character cut at the end is dropped, not refused.
 * The result is at most `maxChars` UTF-16 units (cut on a code point boundary).
 */
export function fileText(
  data: Uint8Array,
  maxChars: number,
  truncated = false,
): { text: string; cut: boolean } | undefined {
  if (data.includes(0)) return undefined;
  let text: string | undefined;
  // A cut file may end inside a character (at most 3 bytes of it): drop those, refuse anything else.
  for (let drop = 0; drop <= (truncated ? 3 : 0) && drop <= data.length && text === undefined; drop++) {
    try {
      text = UTF8.decode(data.subarray(0, data.length - drop));
    } catch {
      // invalid here; maybe an incomplete character at the cut
    }
  }
  if (text === undefined) return undefined;
  let cut = truncated;
  if (text.length > maxChars) {
    let end = Math.max(0, maxChars);
    const code = text.charCodeAt(end - 1);
    if (code >= 0xd800 && code <= 0xdbff) end--; // never split a surrogate pair
    text = text.slice(0, end);
    cut = true;
  }
  return { text, cut };
}

/** Limits on what is downloaded for one request. */
export interface AttachmentLimits {
  /** Images: undefined when no provider of the chain reads them. */
  images?: { max: number; maxBytes: number };
  /** Text files and PDFs: `maxBytes` of text; PDFs are fetched whole up to `maxPdfBytes`. */
  files: { max: number; maxBytes: number; maxPdfBytes: number };
  /** Audio to transcribe: undefined without a transcription endpoint. */
  audio?: { max: number; maxBytes: number };
}

/** The events whose attachment is worth fetching: the newest `max` images and text files, newest first. */
export function wantedAttachments(
  events: RoomEvent[],
  limits: AttachmentLimits,
): Array<{ ev: RoomEvent; kind: AttachmentKind }> {
  const out: Array<{ ev: RoomEvent; kind: AttachmentKind }> = [];
  let images = 0;
  let files = 0;
  let audio = 0;
  for (let i = events.length - 1; i >= 0; i--) {
    const ev = events[i]!;
    if (ev.unsigned?.redacted_because || isEdit(ev.content as Content)) continue;
    const kind = attachmentKind(ev);
    if (kind === "image" && limits.images && images < limits.images.max) {
      images++;
      out.push({ ev, kind });
    } else if ((kind === "text" || kind === "pdf") && files < limits.files.max && limits.files.maxBytes > 0) {
      files++;
      out.push({ ev, kind });
    } else if (kind === "audio" && limits.audio && audio < limits.audio.max) {
      audio++;
      out.push({ ev, kind });
    }
  }
  return out;
}

/** An image over `maxBytes` is fetched up to this many times `maxBytes`, to be downscaled. */
export const DOWNSCALE_INPUT_FACTOR = 4;

/** Downloads the media of room events as the AI user, for the context. */
export class AttachmentReader {
  constructor(
    private readonly api: MatrixApi,
    private readonly aiUserId: string,
    /** Shrinks an image to at most `maxBytes` (undefined: cannot); default: sharp when installed. */
    private readonly shrink: (data: Buffer, maxBytes: number) => Promise<ChatImage | undefined> = downscale,
    /** Whether `shrink` can work at all (decides how much of a large image is fetched). */
    private readonly canShrink: () => Promise<boolean> = async () => (await loadSharp()) !== undefined,
    /** Speech to text for audio (`ai.transcription`); without it audio stays `[audio: name]`. */
    private readonly transcriber?: Transcriber,
  ) {}

  /**
   * The attachments of `events` within `limits`, by event id. A download that fails, is too
   * large, is no image (images) or no text (files) is left out: the context shows the stand-in.
   */
  async read(
    events: RoomEvent[],
    limits: AttachmentLimits,
    signal?: AbortSignal,
  ): Promise<Map<string, Attachment>> {
    const out = new Map<string, Attachment>();
    const imageCap = limits.images
      ? limits.images.maxBytes * ((await this.canShrink()) ? DOWNSCALE_INPUT_FACTOR : 1)
      : 0;
    await Promise.all(
      wantedAttachments(events, limits).map(async ({ ev, kind }) => {
        const content = ev.content as Content;
        if (kind === "audio") return this.transcript(ev, limits.audio!.maxBytes, out, signal);
        const opts: DownloadOptions =
          kind === "image"
            ? { userId: this.aiUserId, maxBytes: imageCap, signal }
            : kind === "pdf"
              ? { userId: this.aiUserId, maxBytes: limits.files.maxPdfBytes, signal }
              : { userId: this.aiUserId, maxBytes: limits.files.maxBytes, truncate: true, signal };
        try {
          const media = await this.api.downloadMedia({ url: content.url, file: content.file }, opts);
          if (kind === "image") {
            const mime = sniffImage(media.data);
            const max = limits.images!.maxBytes;
            const image = !mime
              ? undefined
              : media.data.length <= max
                ? { mime, data: media.data }
                : await this.shrink(media.data, max);
            if (image) out.set(ev.event_id, { kind, image });
            else log.info("image left as text", { event: ev.event_id, bytes: media.data.length, mime });
          } else {
            const t =
              kind === "pdf"
                ? await pdfText(media.data, limits.files.maxBytes)
                : fileText(media.data, limits.files.maxBytes, media.truncated === true);
            if (t) out.set(ev.event_id, { kind: "text", text: t.text, truncated: t.cut });
            else log.debug("not a text file", { event: ev.event_id });
          }
        } catch (err) {
          log.info("attachment left out", { event: ev.event_id, kind, err: String(err) });
        }
      }),
    );
    return out;
  }

  /** A voice message's or audio file's transcript as text, once per event. */
  private async transcript(
    ev: RoomEvent,
    maxBytes: number,
    out: Map<string, Attachment>,
    signal?: AbortSignal,
  ): Promise<void> {
    try {
      const text = await this.transcribe(ev, maxBytes, signal);
      if (text) out.set(ev.event_id, { kind: "text", text: `(transcript) ${text}`, truncated: false });
    } catch (err) {
      log.info("audio not transcribed", { event: ev.event_id, err: String(err) });
    }
  }

  /**
   * The transcript of a voice message or audio file (made once per event and kept); undefined
   * without a transcription endpoint or when it heard nothing. Throws when the download or the
   * endpoint fails.
   */
  async transcribe(ev: RoomEvent, maxBytes: number, signal?: AbortSignal): Promise<string | undefined> {
    const t = this.transcriber;
    if (!t) return undefined;
    const known = t.known(ev.event_id);
    if (known !== undefined) return known || undefined;
    const content = ev.content as Content;
    const media = await this.api.downloadMedia(
      { url: content.url, file: content.file },
      { userId: this.aiUserId, maxBytes, signal },
    );
    const info = (content.info ?? {}) as Content;
    const mime = typeof info.mimetype === "string" ? info.mimetype : media.contentType;
    const name = typeof content.filename === "string" ? content.filename : String(content.body ?? "audio");
    return t.transcribe(ev.event_id, media.data, name, mime, signal);
  }
}

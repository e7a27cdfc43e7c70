import { Logger } from "../log/Logger";
import type { EncryptedFile, Intent } from "../matrix/MatrixApi";
import type { MediaRef, MediaThumbnail, NetworkClient } from "./connector";
import { effectiveMime, imageFacts, sniffMime } from "./mediaProbe";

const log = new Logger("Media");

/** Fetches platform media through the connector and uploads it as `intent`; returns the mxc URI (avatars). */
export async function uploadMedia(intent: Intent, client: NetworkClient, ref: MediaRef): Promise<string> {
  if (!client.fetchMedia) throw new Error("the connector cannot fetch media");
  const media = await client.fetchMedia(ref);
  return intent.uploadContent(media.data, media.mimetype, media.name);
}

/** A media event's source (`url`, or `file` in an encrypted room) and what its bytes say. */
export interface UploadedMedia {
  source: { url: string } | { file: EncryptedFile };
  /** The type to show (sniffed when the platform's is missing or generic). */
  mimetype: string;
  size: number;
  w?: number;
  h?: number;
  /** For large images: `thumbnail_url` or `thumbnail_file`, and `thumbnail_info`. */
  thumbnail?: Record<string, unknown>;
}

/**
 * Fetches platform media for a message in `roomId` and uploads it (encrypted in an encrypted
 * room), with the facts its bytes tell: type, size, an image's width and height, and a
 * thumbnail for a large image.
 */
export async function uploadMessageMedia(
  intent: Intent,
  client: NetworkClient,
  ref: MediaRef,
  roomId: string,
): Promise<UploadedMedia> {
  if (ref.inline !== undefined) {
    const data = Buffer.from(ref.inline, "utf8");
    const mimetype = ref.mimetype ?? "text/plain";
    const source = await intent.uploadFor(roomId, data, mimetype, ref.name ?? "file.txt");
    return { source, mimetype, size: data.length };
  }
  if (!client.fetchMedia) throw new Error("the connector cannot fetch media");
  const media = await client.fetchMedia(ref);
  const mimetype = effectiveMime(media.mimetype ?? ref.mimetype, media.data);
  const facts = mimetype.startsWith("image/") ? await imageFacts(media.data) : undefined;
  const source = await intent.uploadFor(roomId, media.data, mimetype, media.name);
  const out: UploadedMedia = { source, mimetype, size: media.data.length, w: facts?.w, h: facts?.h };
  const thumb = facts?.thumbnail;
  if (thumb) {
    const up = await intent.uploadFor(roomId, thumb.data, "image/jpeg", "thumbnail.jpg");
    out.thumbnail = thumbnailContent(up, "image/jpeg", thumb.data.length, thumb.w, thumb.h);
  } else if (ref.thumbnail && !mimetype.startsWith("image/")) {
    out.thumbnail = await platformThumbnail(intent, client, ref.thumbnail, roomId).catch((err: unknown) => {
      // The video goes without: a missing picture must not cost the message.
      log.info("video thumbnail not bridged", { key: ref.key.slice(0, 80), err: String(err) });
      return undefined;
    });
  }
  return out;
}

/** Largest platform thumbnail taken (they are a few kilobytes; anything near this is no thumbnail). */
export const MAX_THUMBNAIL_BYTES = 1024 * 1024;

function thumbnailContent(
  up: { url: string } | { file: EncryptedFile },
  mimetype: string,
  size: number,
  w: number | undefined,
  h: number | undefined,
): Record<string, unknown> {
  const info: Record<string, unknown> = { mimetype, size };
  if (w !== undefined && h !== undefined) Object.assign(info, { w, h });
  return { ...("url" in up ? { thumbnail_url: up.url } : { thumbnail_file: up.file }), thumbnail_info: info };
}

/** A whole positive number of pixels, or undefined. */
const pixels = (n: unknown): number | undefined =>
  typeof n === "number" && Number.isInteger(n) && n > 0 && n <= 100_000 ? n : undefined;

/**
 * The bytes of an inline thumbnail: strict base64 of at most {@link MAX_THUMBNAIL_BYTES};
 * undefined for anything else.
 */
export function inlineThumbnail(base64: unknown): Buffer | undefined {
  if (typeof base64 !== "string" || base64.length === 0) return undefined;
  if (base64.length > Math.ceil(MAX_THUMBNAIL_BYTES / 3) * 4) return undefined;
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(base64) || base64.length % 4 !== 0) return undefined;
  const data = Buffer.from(base64, "base64");
  return data.length > 0 ? data : undefined;
}

/**
 * The platform's thumbnail of a video, fetched (or decoded) and uploaded: `thumbnail_url` (or
 * `thumbnail_file`) and `thumbnail_info` with its size, type and pixels. Throws when it cannot
 * be had or is no image.
 */
async function platformThumbnail(
  intent: Intent,
  client: NetworkClient,
  thumb: MediaThumbnail,
  roomId: string,
): Promise<Record<string, unknown>> {
  let data: Buffer | undefined;
  if (thumb.base64 !== undefined) data = inlineThumbnail(thumb.base64);
  else if (thumb.ref) {
    if (!client.fetchMedia) throw new Error("the connector cannot fetch media");
    data = (await client.fetchMedia(thumb.ref)).data;
  }
  if (!data?.length) throw new Error("no thumbnail bytes");
  if (data.length > MAX_THUMBNAIL_BYTES) throw new Error(`thumbnail of ${data.length} bytes`);
  const mimetype = sniffMime(data);
  if (!mimetype?.startsWith("image/")) throw new Error("the thumbnail is no image");
  const said = { w: pixels(thumb.width), h: pixels(thumb.height) };
  const { w, h } = said.w !== undefined && said.h !== undefined ? said : ((await imageFacts(data)) ?? said);
  const up = await intent.uploadFor(roomId, data, mimetype, `thumbnail.${mimetype.slice(6)}`);
  return thumbnailContent(up, mimetype, data.length, w, h);
}

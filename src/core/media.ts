import type { EncryptedFile, Intent } from "../matrix/MatrixApi";
import type { MediaRef, NetworkClient } from "./connector";
import { effectiveMime, imageFacts } from "./mediaProbe";

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
    out.thumbnail = {
      ...("url" in up ? { thumbnail_url: up.url } : { thumbnail_file: up.file }),
      thumbnail_info: { mimetype: "image/jpeg", size: thumb.data.length, w: thumb.w, h: thumb.h },
    };
  }
  return out;
}

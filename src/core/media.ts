import type { EncryptedFile, Intent } from "../matrix/MatrixApi";
import type { MediaRef, NetworkClient } from "./connector";

/** Fetches platform media through the connector and uploads it as `intent`; returns the mxc URI (avatars). */
export async function uploadMedia(intent: Intent, client: NetworkClient, ref: MediaRef): Promise<string> {
  if (!client.fetchMedia) throw new Error("the connector cannot fetch media");
  const media = await client.fetchMedia(ref);
  return intent.uploadContent(media.data, media.mimetype, media.name);
}

/**
 * Fetches platform media for a message in `roomId`: the media event's `url`, or its `file`
 * (encrypted) in an encrypted room.
 */
export async function uploadMessageMedia(
  intent: Intent,
  client: NetworkClient,
  ref: MediaRef,
  roomId: string,
): Promise<{ url: string } | { file: EncryptedFile }> {
  if (ref.inline !== undefined) {
    const data = Buffer.from(ref.inline, "utf8");
    return intent.uploadFor(roomId, data, ref.mimetype ?? "text/plain", ref.name ?? "file.txt");
  }
  if (!client.fetchMedia) throw new Error("the connector cannot fetch media");
  const media = await client.fetchMedia(ref);
  return intent.uploadFor(roomId, media.data, media.mimetype, media.name);
}

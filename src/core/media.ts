import type { Intent } from "../matrix/MatrixApi";
import type { MediaRef, NetworkClient } from "./connector";

/** Fetches platform media through the connector and uploads it as `intent`; returns the mxc URI. */
export async function uploadMedia(intent: Intent, client: NetworkClient, ref: MediaRef): Promise<string> {
  if (!client.fetchMedia) throw new Error("the connector cannot fetch media");
  const media = await client.fetchMedia(ref);
  return intent.uploadContent(media.data, media.mimetype, media.name);
}

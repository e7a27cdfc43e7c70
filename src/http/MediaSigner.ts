import { createHmac, timingSafeEqual } from "node:crypto";

/** What the key is derived for; a new purpose (or version) gives unrelated signatures. */
const PURPOSE = "clawbridge media proxy v1";
const SIG_BYTES = 16;

/** A Matrix server name: host name, IPv4 or [IPv6], optional port. */
export const SERVER_NAME = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?$/;
/** A media id as the content repository spec allows it. */
export const MEDIA_ID = /^[A-Za-z0-9_-]+$/;

/**
 * Signs and checks `server/mediaId` pairs, so that the media proxy serves only media the
 * bridge itself handed out (a sender's avatar) and is not an open proxy into the homeserver.
 *
 * The key is derived from the as_token: it survives restarts (URLs platforms cached stay
 * valid) and a rotated as_token, the usual answer to a leak, also invalidates every URL.
 */
export class MediaSigner {
  private readonly key: Buffer;

  constructor(asToken: string) {
    if (!asToken) throw new Error("MediaSigner needs the as_token");
    this.key = createHmac("sha256", asToken).update(PURPOSE).digest();
  }

  /** The signature of one media item, URL-safe (base64url, 22 characters). */
  sign(server: string, mediaId: string): string {
    return createHmac("sha256", this.key)
      .update(`${server}/${mediaId}`)
      .digest()
      .subarray(0, SIG_BYTES)
      .toString("base64url");
  }

  /** Whether `sig` is this signer's signature of the item (constant time). */
  verify(server: string, mediaId: string, sig: string): boolean {
    const given = Buffer.from(sig, "base64url");
    // base64url decoding is lenient; the re-encoding must round-trip to the same text.
    if (given.length !== SIG_BYTES || given.toString("base64url") !== sig) return false;
    const want = Buffer.from(this.sign(server, mediaId), "base64url");
    return timingSafeEqual(given, want);
  }
}

/** Server name and media id of an mxc:// URI, or undefined when it is not a valid one. */
export function parseMxc(mxc: string): { server: string; mediaId: string } | undefined {
  const m = /^mxc:\/\/([^/]+)\/([^/]+)$/.exec(mxc);
  if (!m || !SERVER_NAME.test(m[1]!) || !MEDIA_ID.test(m[2]!)) return undefined;
  return { server: m[1]!, mediaId: m[2]! };
}

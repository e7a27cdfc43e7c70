import type http from "node:http";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { Logger } from "../log/Logger";
import { MEDIA_ID, MediaSigner, parseMxc, SERVER_NAME } from "./MediaSigner";

const log = new Logger("MediaProxy");

/** Path prefix of the proxy on the bridge's listener. */
export const MEDIA_PREFIX = "/_clawbridge/media/v1";
/** Avatars are small; anything far past this is not what the URL was handed out for. */
export const MEDIA_MAX_BYTES = 20 * 1024 * 1024;
const UPSTREAM_TIMEOUT_MS = 30_000;
/** Downloads in flight at once; more is refused (503), so a hammered URL cannot tie up the homeserver. */
const MAX_IN_FLIGHT = 16;
/** Types a browser may render inline; everything else is served as a download. */
const INLINE = /^(image\/(png|jpeg|gif|webp|avif|bmp)|video\/(mp4|webm|ogg)|audio\/(mpeg|ogg|wav|webm|mp4))$/;

export interface MediaProxyOptions {
  /** Client-server API base URL of the homeserver. */
  homeserverUrl: string;
  asToken: string;
  /** Base URL at which platforms reach this listener (`appservice.public_url`). */
  publicUrl: string;
  maxBytes?: number;
  timeoutMs?: number;
  maxInFlight?: number;
}

class TooLarge extends Error {}

/**
 * Serves Matrix media to platforms that fetch it by URL (Discord webhook avatars, Slack
 * `icon_url`): `GET <public_url>/_clawbridge/media/v1/<server>/<mediaId>/<sig>`. Homeservers
 * with authenticated media answer unauthenticated downloads with 404, so the bridge fetches
 * with its as_token from `/_matrix/client/v1/media/download` and streams the bytes back.
 * Only URLs the bridge signed are served; any other request is refused before anything is
 * fetched.
 */
export class MediaProxy {
  private readonly signer: MediaSigner;
  private readonly base: string;
  private readonly publicBase: string;
  private readonly maxBytes: number;
  private readonly timeoutMs: number;
  private readonly maxInFlight: number;
  private inFlight = 0;

  constructor(private readonly opts: MediaProxyOptions) {
    this.signer = new MediaSigner(opts.asToken);
    this.base = opts.homeserverUrl.replace(/\/+$/, "");
    this.publicBase = opts.publicUrl.replace(/\/+$/, "");
    this.maxBytes = opts.maxBytes ?? MEDIA_MAX_BYTES;
    this.timeoutMs = opts.timeoutMs ?? UPSTREAM_TIMEOUT_MS;
    this.maxInFlight = opts.maxInFlight ?? MAX_IN_FLIGHT;
  }

  readonly prefix = MEDIA_PREFIX;

  /** The public, signed URL of an mxc:// URI; undefined for anything that is not one. */
  urlFor(mxc: string): string | undefined {
    const ref = parseMxc(mxc);
    if (!ref) return undefined;
    const sig = this.signer.sign(ref.server, ref.mediaId);
    return `${this.publicBase}${MEDIA_PREFIX}/${encodeURIComponent(ref.server)}/${ref.mediaId}/${sig}`;
  }

  /** Answers one request whose path starts with {@link MEDIA_PREFIX}. */
  async handle(req: http.IncomingMessage, res: http.ServerResponse, path: string): Promise<void> {
    const method = req.method ?? "GET";
    if (method !== "GET" && method !== "HEAD") {
      res.setHeader("Allow", "GET, HEAD");
      return fail(res, 405, "M_UNRECOGNIZED", "Only GET and HEAD");
    }
    const parts = path.slice(MEDIA_PREFIX.length).split("/");
    let server: string | undefined;
    try {
      server = parts.length === 4 && parts[0] === "" ? decodeURIComponent(parts[1]!) : undefined;
    } catch {
      server = undefined;
    }
    const mediaId = parts[2] ?? "";
    const sig = parts[3] ?? "";
    if (!server || !SERVER_NAME.test(server) || !MEDIA_ID.test(mediaId) || !sig) {
      return fail(res, 404, "M_NOT_FOUND", "Not found");
    }
    if (!this.signer.verify(server, mediaId, sig)) {
      // Debug only: this path is public, and anyone can make up requests.
      log.debug("media request with a wrong signature refused", { server, mediaId });
      return fail(res, 403, "M_FORBIDDEN", "Bad signature");
    }
    if (this.inFlight >= this.maxInFlight) {
      log.warn("media proxy busy, request refused", { server, mediaId, inFlight: this.inFlight });
      res.setHeader("Retry-After", "1");
      return fail(res, 503, "M_LIMIT_EXCEEDED", "Busy, try again");
    }
    this.inFlight++;
    try {
      await this.relay(res, server, mediaId, method === "HEAD");
    } finally {
      this.inFlight--;
    }
  }

  private async relay(res: http.ServerResponse, server: string, mediaId: string, headOnly: boolean) {
    const ctx = { server, mediaId };
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(new Error("timed out")), this.timeoutMs);
    // The platform hanging up ends the homeserver download too.
    res.once("close", () => abort.abort(new Error("client went away")));
    try {
      let up: Response;
      try {
        up = await fetch(`${this.base}/_matrix/client/v1/media/download/${server}/${mediaId}`, {
          headers: { Authorization: `Bearer ${this.opts.asToken}`, "Accept-Encoding": "identity" },
          signal: abort.signal,
        });
      } catch (err) {
        log.warn("homeserver unreachable for media", { ...ctx, err: String(err) });
        return fail(res, 502, "M_UNKNOWN", "Homeserver unreachable");
      }
      if (!up.ok) {
        await up.body?.cancel().catch(() => undefined);
        return this.upstreamError(res, up, ctx);
      }
      const length = Number(up.headers.get("content-length") ?? Number.NaN);
      if (length > this.maxBytes) {
        await up.body?.cancel().catch(() => undefined);
        log.warn("media too large to relay", { ...ctx, bytes: length, max: this.maxBytes });
        return fail(res, 502, "M_TOO_LARGE", "Media too large");
      }
      const type = up.headers.get("content-type") || "application/octet-stream";
      const headers: http.OutgoingHttpHeaders = {
        "Content-Type": type,
        "Content-Disposition": INLINE.test(type.split(";")[0]!.trim().toLowerCase())
          ? "inline"
          : "attachment",
        // mxc content never changes.
        "Cache-Control": "public, max-age=31536000, immutable",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox; default-src 'none'",
        "Cross-Origin-Resource-Policy": "cross-origin",
      };
      if (Number.isFinite(length) && !up.headers.get("content-encoding")) headers["Content-Length"] = length;
      if (headOnly || !up.body) {
        await up.body?.cancel().catch(() => undefined);
        res.writeHead(200, headers).end();
        return;
      }
      res.writeHead(200, headers);
      let seen = 0;
      const cap = new Transform({
        transform: (chunk: Buffer, _enc, done) => {
          seen += chunk.length;
          done(seen > this.maxBytes ? new TooLarge() : null, chunk);
        },
      });
      try {
        await pipeline(Readable.fromWeb(up.body as import("node:stream/web").ReadableStream), cap, res);
      } catch (err) {
        // Headers are out: all that is left is to cut the response short.
        res.destroy();
        if (err instanceof TooLarge)
          log.warn("media too large to relay, cut off", { ...ctx, max: this.maxBytes });
        else if (!res.writableFinished) log.warn("media relay interrupted", { ...ctx, err: String(err) });
      }
    } finally {
      clearTimeout(timer);
    }
  }

  private upstreamError(res: http.ServerResponse, up: Response, ctx: Record<string, string>): void {
    if (up.status === 404) {
      fail(res, 404, "M_NOT_FOUND", "Media not found");
    } else if (up.status === 429) {
      const retry = up.headers.get("retry-after");
      if (retry) res.setHeader("Retry-After", retry);
      fail(res, 503, "M_LIMIT_EXCEEDED", "Homeserver rate limit, try again later");
    } else {
      if (up.status === 401 || up.status === 403) {
        log.warn("homeserver refused the bridge's media download: is the as_token current?", {
          ...ctx,
          status: up.status,
        });
      } else {
        log.warn("homeserver failed a media download", { ...ctx, status: up.status });
      }
      fail(res, 502, "M_UNKNOWN", "Homeserver error");
    }
  }
}

function fail(res: http.ServerResponse, status: number, errcode: string, error: string): void {
  const text = JSON.stringify({ errcode, error });
  res.writeHead(status, {
    "Content-Type": "application/json",
    "Content-Length": Buffer.byteLength(text),
    "Cache-Control": "no-store",
  });
  res.end(text);
}

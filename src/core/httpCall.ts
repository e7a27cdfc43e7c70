import http from "node:http";
import https from "node:https";
import type { Readable } from "node:stream";

/**
 * One HTTP request over kept-alive connections, the whole answer read. The homeserver client's
 * and the Bot API client's calls go through here rather than `fetch`: node:http costs a
 * fraction of the CPU per request (no web streams, no per-request abort machinery), and every
 * relayed message makes at least one.
 */

/** Connections stay open between requests (one per concurrent request to a server). */
const agents = {
  "http:": new http.Agent({ keepAlive: true }),
  "https:": new https.Agent({ keepAlive: true }),
};

export interface HttpAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export interface HttpCallOptions {
  method: string;
  headers: Record<string, string>;
  /** A stream goes out as it is read (chunked): an upload. */
  body?: string | Buffer | Readable;
  /** For the whole exchange, connecting to the last byte of the answer. */
  timeoutMs: number;
  /** Ends the request at once (the answer fails with code ABORT_ERR). */
  signal?: AbortSignal;
}

/** Failure to get an answer at all; `code` is the socket's (ECONNREFUSED…) or TIMEOUT. */
export class HttpCallError extends Error {
  constructor(
    message: string,
    readonly code: string,
    /** The request went out on a kept-alive connection the server had closed. */
    readonly reusedReset = false,
  ) {
    super(message);
    this.name = "HttpCallError";
  }
}

export async function httpCall(url: string, opts: HttpCallOptions): Promise<HttpAnswer> {
  try {
    return await once(url, opts);
  } catch (err) {
    // The server closed an idle kept-alive connection just as it was reused: the request never
    // reached it, so it is sent once more on a fresh connection (a stream cannot be read twice).
    if (err instanceof HttpCallError && err.reusedReset && !isStream(opts.body)) return once(url, opts);
    throw err;
  }
}

function once(url: string, opts: HttpCallOptions): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      reject(new HttpCallError(`not a URL: ${url.slice(0, 200)}`, "ERR_INVALID_URL"));
      return;
    }
    const agent = agents[u.protocol as keyof typeof agents];
    if (!agent) {
      reject(new HttpCallError(`unsupported protocol ${u.protocol}`, "ERR_INVALID_PROTOCOL"));
      return;
    }
    if (opts.signal?.aborted) {
      reject(new HttpCallError("aborted", "ABORT_ERR"));
      return;
    }
    const headers: Record<string, string | number> = { ...opts.headers };
    const { body } = opts;
    if (body !== undefined && !isStream(body)) headers["Content-Length"] = Buffer.byteLength(body);
    const req = (u.protocol === "https:" ? https : http).request(u, { method: opts.method, agent, headers });
    let settled = false;
    const onAbort = () => fail(new HttpCallError("aborted", "ABORT_ERR"));
    const fail = (err: HttpCallError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener("abort", onAbort);
      req.destroy();
      reject(err);
    };
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    const timer = setTimeout(
      () => fail(new HttpCallError(`no answer within ${opts.timeoutMs} ms`, "TIMEOUT")),
      opts.timeoutMs,
    );
    timer.unref();
    req.on("error", (err: NodeJS.ErrnoException) => {
      const code = err.code ?? "ERR_NETWORK";
      fail(new HttpCallError(err.message, code, req.reusedSocket && code === "ECONNRESET"));
    });
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("error", (err: NodeJS.ErrnoException) =>
        fail(new HttpCallError(err.message, err.code ?? "ERR_NETWORK")),
      );
      res.on("close", () => {
        if (!res.complete)
          fail(new HttpCallError("the connection closed before the answer ended", "ECONNRESET"));
      });
      res.on("end", () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        opts.signal?.removeEventListener("abort", onAbort);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
      });
    });
    if (isStream(body)) {
      body.on("error", (err: Error) =>
        fail(new HttpCallError(`the upload failed: ${err.message}`, "ERR_BODY")),
      );
      body.pipe(req);
    } else req.end(body);
  });
}

function isStream(body: unknown): body is Readable {
  return typeof body === "object" && body !== null && typeof (body as Readable).pipe === "function";
}

import http from "node:http";
import https from "node:https";
import type { Socket } from "node:net";
import type { Readable } from "node:stream";

/**
 * One HTTP request over kept-alive connections, the answer read whole or up to a limit. The
 * homeserver client's calls (MatrixApi), media downloads included, go through here rather than
 * `fetch`: node:http costs a fraction of the CPU per request (no web streams, no per-request
 * abort machinery), and every relayed message makes at least one.
 */

/** Connections stay open between requests (one per concurrent request to a server). */
const agents = {
  "http:": new http.Agent({ keepAlive: true }),
  "https:": new https.Agent({ keepAlive: true }),
};

/** The server a connection goes to, as `host:port` (IPv6 without brackets, the port always given). */
function serverKey(host: string, port: string | number): string {
  return `${host.replace(/^\[(.*)\]$/, "$1")}:${port}`;
}

/** Who is told when a connection kept open to a server closes (see onConnectionClosed). */
const closeWatchers = new Map<string, Set<() => void>>();
const watchedSockets = new WeakSet<object>();
for (const [protocol, agent] of Object.entries(agents)) {
  agent.on("free", (socket: Socket, options: { host?: string; port?: string | number }) => {
    if (watchedSockets.has(socket)) return;
    watchedSockets.add(socket);
    const key = serverKey(options.host ?? "localhost", options.port || (protocol === "https:" ? 443 : 80));
    socket.once("close", () => {
      for (const fn of closeWatchers.get(key) ?? []) fn();
    });
  });
}

/**
 * Calls `fn` whenever a connection kept open to `url`'s server closes: the server stopped or
 * restarted (or let an idle connection go), which a periodic check may not see in time.
 * Returns the function that stops the calls.
 */
export function onConnectionClosed(url: string, fn: () => void): () => void {
  const u = new URL(url);
  const key = serverKey(u.hostname, u.port || (u.protocol === "https:" ? 443 : 80));
  const set = closeWatchers.get(key) ?? new Set<() => void>();
  closeWatchers.set(key, set);
  const watcher = () => fn();
  set.add(watcher);
  return () => {
    set.delete(watcher);
    if (!set.size && closeWatchers.get(key) === set) closeWatchers.delete(key);
  };
}

export interface HttpAnswer {
  status: number;
  /** As received (lower-case names): `content-type`, `location`, `retry-after`… */
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** The body is the first `maxBodyBytes` of a longer one (only with `truncate`). */
  truncated?: boolean;
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
  /**
   * Largest answer body read, checked as it streams in: past it (or when Content-Length says
   * more) the answer fails with code ERR_TOO_LARGE, so a huge body is never held whole. The
   * connection is then closed rather than drained and kept.
   */
  maxBodyBytes?: number;
  /** Past `maxBodyBytes`: answer with the first `maxBodyBytes` (`truncated`) instead of failing. */
  truncate?: boolean;
}

/**
 * Failure to get a (whole) answer; `code` is the socket's (ECONNREFUSED…), TIMEOUT, ABORT_ERR,
 * or ERR_TOO_LARGE for a body past `maxBodyBytes`.
 */
export class HttpCallError extends Error {
  /** The request went out on a kept-alive connection the server had closed. */
  readonly reusedReset: boolean;
  /** ERR_TOO_LARGE: the status of the answer whose body was too large. */
  readonly status?: number;

  constructor(
    message: string,
    readonly code: string,
    more: { reusedReset?: boolean; status?: number } = {},
  ) {
    super(message);
    this.name = "HttpCallError";
    this.reusedReset = more.reusedReset ?? false;
    this.status = more.status;
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
      fail(new HttpCallError(err.message, code, { reusedReset: req.reusedSocket && code === "ECONNRESET" }));
    });
    const done = (answer: HttpAnswer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener("abort", onAbort);
      // A body left unread (cut at the limit) makes the connection unusable for the next request.
      if (answer.truncated) req.destroy();
      resolve(answer);
    };
    req.on("response", (res) => {
      const status = res.statusCode ?? 0;
      const max = opts.maxBodyBytes;
      const tooLarge = () =>
        new HttpCallError(`the answer is larger than ${max} bytes`, "ERR_TOO_LARGE", { status });
      res.on("error", (err: NodeJS.ErrnoException) =>
        fail(new HttpCallError(err.message, err.code ?? "ERR_NETWORK")),
      );
      res.on("close", () => {
        if (!res.complete)
          fail(new HttpCallError("the connection closed before the answer ended", "ECONNRESET"));
      });
      const declared = Number(res.headers["content-length"]);
      if (max !== undefined && !opts.truncate && opts.method !== "HEAD" && declared > max) {
        fail(tooLarge());
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (c: Buffer) => {
        if (settled) return;
        if (max !== undefined && size + c.length > max) {
          if (!opts.truncate) {
            fail(tooLarge());
            return;
          }
          chunks.push(c.subarray(0, max - size));
          done({ status, headers: res.headers, body: Buffer.concat(chunks, max), truncated: true });
          return;
        }
        chunks.push(c);
        size += c.length;
      });
      res.on("end", () => done({ status, headers: res.headers, body: Buffer.concat(chunks, size) }));
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

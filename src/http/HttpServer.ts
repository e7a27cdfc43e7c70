import { timingSafeEqual } from "node:crypto";
import http from "node:http";
import type { Duplex } from "node:stream";
import { classifyFailure } from "../core/errors";
import { Logger } from "../log/Logger";

const log = new Logger("HttpServer");

/** Largest request body each kind of route reads; anything larger is refused with 413 unread. */
export interface BodyLimits {
  /** Synapse sends up to 100 PDUs and 100 EDUs per transaction; this leaves ample room. */
  transaction: number;
  ping: number;
  provisioning: number;
}

export const DEFAULT_BODY_LIMITS: BodyLimits = {
  transaction: 32 * 1024 * 1024,
  ping: 64 * 1024,
  provisioning: 64 * 1024,
};

/** A homeserver transaction, as pushed to `PUT /_matrix/app/v1/transactions/{txnId}`. */
export interface AppserviceTransaction {
  events?: unknown[];
  /** Stable key (Matrix 1.x) and the MSC2409 unstable one. */
  ephemeral?: unknown[];
  "de.sorunome.msc2409.ephemeral"?: unknown[];
}

export interface HttpHandlers {
  /** Must resolve only once the transaction is durably recorded. */
  onTransaction(txnId: string, txn: AppserviceTransaction): Promise<void>;
  /** The homeserver closed a transaction's connection before the bridge answered it. */
  onTransactionCut?(txnId: string): void;
  onPing(transactionId: string | undefined): void;
  /** Whether the bridge wants this user to exist (homeserver user query). */
  onUserQuery(userId: string): Promise<boolean>;
  health(): { ok: boolean; detail: Record<string, unknown> };
  metrics?(): Promise<{ contentType: string; body: string }>;
  /** The admin provisioning API and the web page's API, each under its own prefix. */
  provisioning?: ProvisioningHandler | ProvisioningHandler[];
  /** The web page's files; it writes the response itself (its own security headers). */
  ui?: {
    prefix: string;
    handle(req: http.IncomingMessage, res: http.ServerResponse, path: string): Promise<void>;
  };
  /** Media served to platforms (signed URLs); it writes the response itself, to stream it. */
  media?: {
    prefix: string;
    handle(req: http.IncomingMessage, res: http.ServerResponse, path: string): Promise<void>;
  };
}

export interface ProvisioningHandler {
  prefix: string;
  /**
   * The refusal for a request without the right credentials, or undefined to let it in.
   * Called before any of the body is read. Must not do IO.
   */
  authenticate(authorization: string | undefined, path: string): ProvisioningResponse | undefined;
  handle(req: ProvisioningRequest): Promise<ProvisioningResponse>;
}

export interface ProvisioningRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  body: unknown;
  authorization: string | undefined;
}

export interface ProvisioningResponse {
  status: number;
  body: unknown;
}

/**
 * A request parameter (query, path segment) outside what the route accepts: answered 400
 * M_INVALID_PARAM with `rule` saying what is allowed. Throw it from any handler.
 */
export class InvalidParam extends Error {
  constructor(
    readonly param: string,
    readonly rule: string,
  ) {
    super(`${param} ${rule}`);
    this.name = "InvalidParam";
  }
}

/**
 * Whether an error says that something the bridge depends on (database, homeserver) is
 * unreachable or refusing work right now, rather than that the request or the code is wrong.
 */
export function isDependencyOutage(err: unknown): boolean {
  return classifyFailure(err).kind === "outage";
}

/** Whether the request announces a body (which the server may then not read). */
function hasBody(req: http.IncomingMessage): boolean {
  const len = req.headers["content-length"];
  return req.headers["transfer-encoding"] !== undefined || (len !== undefined && len !== "0");
}

/**
 * Writes a JSON answer. A body the request announced and that was not read (a refusal, a
 * route without one) is not drained: the connection closes after the answer.
 */
function send(res: http.ServerResponse, status: number, body: unknown): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body);
  const headers: http.OutgoingHttpHeaders = {
    "Content-Type": "application/json",
    "Content-Length": Buffer.byteLength(text),
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
  };
  const req = res.req;
  if (req && hasBody(req) && !req.complete) headers.Connection = "close";
  res.writeHead(status, headers);
  res.end(text);
}

type BodyResult = { ok: true; body: Buffer } | { ok: false; reason: "too-large" | "aborted" };

/**
 * Reads the body up to `limit` bytes. A declared Content-Length over the limit is refused
 * before a byte is read; a body that grows past it stops being kept at once.
 */
function readBody(req: http.IncomingMessage, limit: number): Promise<BodyResult> {
  const declared = Number(req.headers["content-length"] ?? 0);
  if (declared > limit) return Promise.resolve({ ok: false, reason: "too-large" });
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const finish = (r: BodyResult) => {
      if (settled) return;
      settled = true;
      req.off("data", onData);
      resolve(r);
    };
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        chunks.length = 0;
        req.pause();
        finish({ ok: false, reason: "too-large" });
        return;
      }
      chunks.push(c);
    };
    req.on("data", onData);
    req.on("end", () => finish({ ok: true, body: Buffer.concat(chunks) }));
    req.on("error", () => finish({ ok: false, reason: "aborted" }));
    req.on("close", () => finish({ ok: false, reason: "aborted" }));
  });
}

/** Answers a body that could not be read in full (a client that went away gets nothing). */
function bodyFailed(res: http.ServerResponse, r: Exclude<BodyResult, { ok: true }>, limit: number): void {
  if (r.reason === "aborted") return;
  send(res, 413, { errcode: "M_TOO_LARGE", error: `request body is larger than ${limit} bytes` });
}

/** Compares tokens in constant time. */
export function tokenMatches(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Path (still percent-encoded) and query of a request target; undefined when it is not one. */
function parseTarget(raw: string): { path: string; query: URLSearchParams } | undefined {
  let target = raw;
  if (!target.startsWith("/")) {
    // absolute-form, as sent to proxies
    try {
      const u = new URL(target);
      target = `${u.pathname}${u.search}`;
    } catch {
      return undefined;
    }
  }
  const q = target.indexOf("?");
  return {
    path: q < 0 ? target : target.slice(0, q),
    query: new URLSearchParams(q < 0 ? "" : target.slice(q + 1)),
  };
}

// Control characters and lone surrogates: never part of an id the homeserver sends.
const BAD_ID_CHARS = /\p{Cc}|\p{Cs}/u;

/** One decoded path segment, checked to be a sane identifier of at most 255 bytes. */
export function idSegment(raw: string, param: string, shape?: { re: RegExp; rule: string }): string {
  const rule = `must be ${shape ? `${shape.rule}, ` : ""}at most 255 bytes, percent-encoded UTF-8 without control characters`;
  let id: string;
  try {
    id = decodeURIComponent(raw);
  } catch {
    throw new InvalidParam(param, rule);
  }
  if (!id || Buffer.byteLength(id) > 255 || BAD_ID_CHARS.test(id) || (shape && !shape.re.test(id))) {
    throw new InvalidParam(param, rule);
  }
  return id;
}

const USER_ID = { re: /^@[^:]+:.+$/, rule: "a Matrix user id (@localpart:server)" };

/** The transaction as handed to the core, or the reason it is not one. */
function transactionOf(parsed: unknown): AppserviceTransaction | undefined {
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return undefined;
  const txn = { ...(parsed as AppserviceTransaction) };
  if (txn.events !== undefined && !Array.isArray(txn.events)) return undefined;
  // Ephemeral data is optional: a field that is not a list is treated as absent.
  if (!Array.isArray(txn.ephemeral)) delete txn.ephemeral;
  if (!Array.isArray(txn["de.sorunome.msc2409.ephemeral"])) delete txn["de.sorunome.msc2409.ephemeral"];
  return txn;
}

/** Refuses a malformed request before it reaches routing (bad request line, header overflow, timeouts). */
function onClientError(err: Error & { code?: string }, socket: Duplex): void {
  if (err.code === "ECONNRESET" || !socket.writable) {
    socket.destroy();
    return;
  }
  const [status, reason] =
    err.code === "HPE_HEADER_OVERFLOW"
      ? [431, "Request Header Fields Too Large"]
      : err.code === "ERR_HTTP_REQUEST_TIMEOUT"
        ? [408, "Request Timeout"]
        : [400, "Bad Request"];
  const errcode = status === 400 ? "M_UNRECOGNIZED" : status === 431 ? "M_TOO_LARGE" : "M_UNKNOWN";
  const text = JSON.stringify({ errcode, error: reason });
  socket.on("error", () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`,
  );
}

/**
 * The bridge's one HTTP listener: the appservice API the homeserver pushes to, plus
 * `/health`, `/metrics`, the provisioning API and the media proxy.
 *
 * Authentication follows the appservice spec: the hs_token comes as `Authorization: Bearer`
 * (or the legacy `access_token` query parameter); missing → 401 M_UNAUTHORIZED, wrong → 403
 * M_FORBIDDEN, and nothing is processed. Every authenticated route checks its credentials
 * before it reads a byte of the body, and each reads at most its {@link BodyLimits}; a body
 * that is refused is never drained, the connection is closed instead.
 *
 * Bad input is a 4xx with a JSON `errcode`, never a 5xx: a 500 means the handler failed, a
 * 503 M_UNAVAILABLE that something it depends on is unreachable.
 */
export class HttpServer {
  private server?: http.Server;
  private readonly limits: BodyLimits;

  constructor(
    private readonly hsToken: string,
    private readonly handlers: HttpHandlers,
    limits: Partial<BodyLimits> = {},
  ) {
    this.limits = { ...DEFAULT_BODY_LIMITS, ...limits };
  }

  async listen(port: number, host: string): Promise<number> {
    const server = http.createServer((req, res) => this.onRequest(req, res));
    server.on("clientError", onClientError);
    server.keepAliveTimeout = 75_000;
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => {
        server.off("error", reject);
        resolve();
      });
    });
    const addr = server.address();
    return typeof addr === "object" && addr ? addr.port : port;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    // A client that goes away mid-request is not an error of the bridge.
    req.on("error", () => undefined);
    res.on("error", () => undefined);
    const failed = (err: unknown) => {
      const path = req.url?.split("?")[0];
      if (err instanceof InvalidParam) {
        send(res, 400, { errcode: "M_INVALID_PARAM", error: err.message });
      } else if (isDependencyOutage(err)) {
        log.warn("request failed: a dependency is unavailable", { path, err });
        send(res, 503, {
          errcode: "M_UNAVAILABLE",
          error: "a service the bridge depends on is unavailable; try again later",
        });
      } else {
        log.error("request failed", { path, err });
        send(res, 500, { errcode: "M_UNKNOWN", error: "internal error" });
      }
      // Part of an answer went out already: the client must see that it is cut.
      if (res.headersSent && !res.writableEnded) res.destroy();
    };
    try {
      this.route(req, res).catch(failed);
    } catch (err) {
      failed(err);
    }
  }

  private async route(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const target = parseTarget(req.url ?? "/");
    if (!target) {
      send(res, 400, { errcode: "M_UNRECOGNIZED", error: "Unrecognized request target" });
      return;
    }
    const { path, query } = target;
    const method = req.method ?? "GET";
    // Routes that write their own answer read no body: a request that sent one is closed after it.
    const selfAnswered = () => {
      if (hasBody(req)) res.setHeader("Connection", "close");
    };

    if (path === "/health") {
      const h = this.handlers.health();
      send(res, h.ok ? 200 : 503, { status: h.ok ? "ok" : "starting", ...h.detail });
      return;
    }
    if (path === "/metrics" && this.handlers.metrics) {
      const m = await this.handlers.metrics();
      selfAnswered();
      res.writeHead(200, { "Content-Type": m.contentType });
      res.end(m.body);
      return;
    }
    const media = this.handlers.media;
    if (media && path.startsWith(`${media.prefix}/`)) {
      selfAnswered();
      await media.handle(req, res, path);
      return;
    }
    const ui = this.handlers.ui;
    if (ui && (path === ui.prefix || path.startsWith(`${ui.prefix}/`))) {
      selfAnswered();
      await ui.handle(req, res, path.slice(ui.prefix.length));
      return;
    }
    for (const prov of [this.handlers.provisioning ?? []].flat()) {
      if (path === prov.prefix || path.startsWith(`${prov.prefix}/`)) {
        await this.provisioning(prov, req, res, method, path.slice(prov.prefix.length) || "/", query);
        return;
      }
    }

    const m = /^(?:\/_matrix\/app\/v1)?\/(transactions|users|rooms|ping|thirdparty)(?:\/(.*))?$/.exec(path);
    if (!m || (m[1] === "ping" && !path.startsWith("/_matrix/app/v1"))) {
      send(res, 404, { errcode: "M_UNRECOGNIZED", error: "Unrecognized request" });
      return;
    }
    if (!this.authorised(req, path, query, res)) return;
    const [, kind, rest] = m;
    const segment = rest !== undefined && rest !== "" && !rest.includes("/") ? rest : undefined;

    if (kind === "transactions" && method === "PUT" && segment !== undefined) {
      const txnId = idSegment(segment, "txnId");
      res.once("close", () => {
        if (!res.writableFinished) this.handlers.onTransactionCut?.(txnId);
      });
      const r = await readBody(req, this.limits.transaction);
      if (!r.ok) return bodyFailed(res, r, this.limits.transaction);
      let parsed: unknown;
      try {
        parsed = JSON.parse(r.body.toString("utf8"));
      } catch {
        send(res, 400, { errcode: "M_NOT_JSON", error: "transaction body is not JSON" });
        return;
      }
      const txn = transactionOf(parsed);
      if (!txn) {
        send(res, 400, {
          errcode: "M_BAD_JSON",
          error: "transaction must be an object with an events array",
        });
        return;
      }
      await this.handlers.onTransaction(txnId, txn);
      send(res, 200, {});
      return;
    }
    if (kind === "ping" && method === "POST" && rest === undefined) {
      const r = await readBody(req, this.limits.ping);
      if (!r.ok) return bodyFailed(res, r, this.limits.ping);
      let id: unknown;
      try {
        id = (JSON.parse(r.body.toString("utf8") || "{}") as { transaction_id?: unknown }).transaction_id;
      } catch {
        // the body is optional
      }
      this.handlers.onPing(typeof id === "string" && id.length <= 255 ? id : undefined);
      send(res, 200, {});
      return;
    }
    if (kind === "users" && method === "GET" && segment !== undefined) {
      const ok = await this.handlers.onUserQuery(idSegment(segment, "userId", USER_ID));
      if (ok) send(res, 200, {});
      else send(res, 404, { errcode: "M_NOT_FOUND", error: "No such user" });
      return;
    }
    // Portals are created on the first remote message, never by alias lookup; no third-party protocols yet.
    send(res, 404, { errcode: "M_NOT_FOUND", error: "Not found" });
  }

  private async provisioning(
    prov: ProvisioningHandler,
    req: http.IncomingMessage,
    res: http.ServerResponse,
    method: string,
    path: string,
    query: URLSearchParams,
  ): Promise<void> {
    const refusal = prov.authenticate(req.headers.authorization, path);
    if (refusal) {
      send(res, refusal.status, refusal.body);
      return;
    }
    let body: unknown;
    if (method !== "GET" && method !== "HEAD") {
      const r = await readBody(req, this.limits.provisioning);
      if (!r.ok) return bodyFailed(res, r, this.limits.provisioning);
      try {
        body = r.body.length ? JSON.parse(r.body.toString("utf8")) : undefined;
      } catch {
        send(res, 400, { errcode: "M_NOT_JSON", error: "body is not JSON" });
        return;
      }
    }
    const out = await prov.handle({ method, path, query, body, authorization: req.headers.authorization });
    send(res, out.status, out.body);
  }

  private authorised(
    req: http.IncomingMessage,
    path: string,
    query: URLSearchParams,
    res: http.ServerResponse,
  ): boolean {
    const header = req.headers.authorization;
    let token: string | undefined;
    if (header?.startsWith("Bearer ")) token = header.slice(7);
    else token = query.get("access_token") ?? undefined;
    if (!token) {
      log.warn("homeserver request without a token refused", { path });
      send(res, 401, { errcode: "M_UNAUTHORIZED", error: "Missing token" });
      return false;
    }
    if (!tokenMatches(token, this.hsToken)) {
      log.warn("homeserver request with a wrong token refused", { path });
      send(res, 403, { errcode: "M_FORBIDDEN", error: "Bad token" });
      return false;
    }
    return true;
  }
}

import { timingSafeEqual } from "node:crypto";
import http from "node:http";
import { Logger } from "../log/Logger";

const log = new Logger("HttpServer");
const MAX_BODY = 64 * 1024 * 1024;

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
  onPing(transactionId: string | undefined): void;
  /** Whether the bridge wants this user to exist (homeserver user query). */
  onUserQuery(userId: string): Promise<boolean>;
  health(): { ok: boolean; detail: Record<string, unknown> };
  metrics?(): Promise<{ contentType: string; body: string }>;
  provisioning?: { prefix: string; handle(req: ProvisioningRequest): Promise<ProvisioningResponse> };
  /** Media served to platforms (signed URLs); it writes the response itself, to stream it. */
  media?: {
    prefix: string;
    handle(req: http.IncomingMessage, res: http.ServerResponse, path: string): Promise<void>;
  };
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

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text) });
  res.end(text);
}

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new Error("body too large"));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

/** Compares tokens in constant time. */
export function tokenMatches(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * The bridge's one HTTP listener: the appservice API the homeserver pushes to, plus
 * `/health`, `/metrics`, the provisioning API and the media proxy.
 *
 * Authentication follows the appservice spec: the hs_token comes as `Authorization: Bearer`
 * (or the legacy `access_token` query parameter); missing → 401 M_UNAUTHORIZED, wrong → 403
 * M_FORBIDDEN, and nothing is processed.
 */
export class HttpServer {
  private server?: http.Server;

  constructor(
    private readonly hsToken: string,
    private readonly handlers: HttpHandlers,
  ) {}

  async listen(port: number, host: string): Promise<number> {
    const server = http.createServer((req, res) => {
      this.route(req, res).catch((err: unknown) => {
        log.error("request failed", { path: req.url?.split("?")[0], err });
        if (!res.headersSent) send(res, 500, { errcode: "M_UNKNOWN", error: "internal error" });
      });
    });
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

  private async route(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://localhost");
    const path = url.pathname;
    const method = req.method ?? "GET";

    if (path === "/health") {
      const h = this.handlers.health();
      send(res, h.ok ? 200 : 503, { status: h.ok ? "ok" : "starting", ...h.detail });
      return;
    }
    if (path === "/metrics" && this.handlers.metrics) {
      const m = await this.handlers.metrics();
      res.writeHead(200, { "Content-Type": m.contentType });
      res.end(m.body);
      return;
    }
    const media = this.handlers.media;
    if (media && path.startsWith(`${media.prefix}/`)) {
      await media.handle(req, res, path);
      return;
    }
    const prov = this.handlers.provisioning;
    if (prov && (path === prov.prefix || path.startsWith(`${prov.prefix}/`))) {
      const raw = method === "GET" || method === "HEAD" ? Buffer.alloc(0) : await readBody(req);
      let body: unknown;
      try {
        body = raw.length ? JSON.parse(raw.toString("utf8")) : undefined;
      } catch {
        send(res, 400, { errcode: "M_NOT_JSON", error: "body is not JSON" });
        return;
      }
      const out = await prov.handle({
        method,
        path: path.slice(prov.prefix.length) || "/",
        query: url.searchParams,
        body,
        authorization: req.headers.authorization,
      });
      send(res, out.status, out.body);
      return;
    }

    const m = /^(?:\/_matrix\/app\/v1)?\/(transactions|users|rooms|ping|thirdparty)(?:\/(.*))?$/.exec(path);
    if (!m || (m[1] === "ping" && !path.startsWith("/_matrix/app/v1"))) {
      send(res, 404, { errcode: "M_UNRECOGNIZED", error: "Unrecognized request" });
      return;
    }
    if (!this.authorised(req, url, res)) return;
    const [, kind, rest] = m;

    if (kind === "transactions" && method === "PUT" && rest) {
      const raw = await readBody(req);
      let txn: AppserviceTransaction;
      try {
        txn = JSON.parse(raw.toString("utf8")) as AppserviceTransaction;
      } catch {
        send(res, 400, { errcode: "M_NOT_JSON", error: "transaction body is not JSON" });
        return;
      }
      if (
        typeof txn !== "object" ||
        txn === null ||
        (txn.events !== undefined && !Array.isArray(txn.events))
      ) {
        send(res, 400, {
          errcode: "M_BAD_JSON",
          error: "transaction must be an object with an events array",
        });
        return;
      }
      await this.handlers.onTransaction(decodeURIComponent(rest), txn);
      send(res, 200, {});
      return;
    }
    if (kind === "ping" && method === "POST") {
      const raw = await readBody(req);
      let id: string | undefined;
      try {
        id = (JSON.parse(raw.toString("utf8") || "{}") as { transaction_id?: string }).transaction_id;
      } catch {
        // the body is optional
      }
      this.handlers.onPing(id);
      send(res, 200, {});
      return;
    }
    if (kind === "users" && method === "GET" && rest) {
      const ok = await this.handlers.onUserQuery(decodeURIComponent(rest));
      if (ok) send(res, 200, {});
      else send(res, 404, { errcode: "M_NOT_FOUND", error: "No such user" });
      return;
    }
    // Portals are created on the first remote message, never by alias lookup; no third-party protocols yet.
    send(res, 404, { errcode: "M_NOT_FOUND", error: "Not found" });
  }

  private authorised(req: http.IncomingMessage, url: URL, res: http.ServerResponse): boolean {
    const header = req.headers.authorization;
    let token: string | undefined;
    if (header?.startsWith("Bearer ")) token = header.slice(7);
    else token = url.searchParams.get("access_token") ?? undefined;
    if (!token) {
      log.warn("homeserver request without a token refused", { path: url.pathname });
      send(res, 401, { errcode: "M_UNAUTHORIZED", error: "Missing token" });
      return false;
    }
    if (!tokenMatches(token, this.hsToken)) {
      log.warn("homeserver request with a wrong token refused", { path: url.pathname });
      send(res, 403, { errcode: "M_FORBIDDEN", error: "Bad token" });
      return false;
    }
    return true;
  }
}

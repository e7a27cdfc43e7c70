/**
 * Wire-level Slack stand-in for tests: node:http + ws on 127.0.0.1, port 0. @slack/bolt talks
 * to it unmodified with `clientOptions.slackApiUrl = server.apiUrl`.
 *
 * - Web API at `/api/<method>` (form or JSON bodies, Bearer token auth). The token names the
 *   workspace, so several workspaces live side by side. Every call is recorded; `rateLimit`
 *   makes matching calls answer 429 with `Retry-After`.
 * - Socket Mode: `apps.connections.open` (app-level token) returns `ws://…/socket?ticket=…`;
 *   the socket gets `hello`, then `events_api` envelopes. An envelope stays pending until its
 *   ack arrives; pending envelopes are sent again (with a higher `retry_attempt`) when the app
 *   reconnects. `disconnect(team)` drops the socket the way Slack does.
 * - Events API over HTTP: signed POSTs (`v0=` HMAC-SHA256 of `v0:<ts>:<body>`) to the
 *   workspace's `eventsUrl`; a failed delivery is retried with the same event id and
 *   `X-Slack-Retry-Num`. `postSigned` sends arbitrary (also forged or stale) requests.
 * - Files: uploads at `/upload/<team>/<file>`, downloads at `/files-pri/<team>-<file>/<name>`
 *   (bot token required), avatars at `/avatars/<team>/<user>.png`.
 */
import { createHmac, randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { type WebSocket, WebSocketServer } from "ws";
import { type ChannelSpec, type Obj, type UserSpec, Workspace, type WorkspaceSpec } from "./Workspace";
import { ApiError, fileObject, METHODS, type Params } from "./webapi";

export type { ChannelSpec, Obj, UserSpec, WorkspaceSpec } from "./Workspace";
export { Workspace } from "./Workspace";

/** One request the stand-in received. */
export interface RecordedCall {
  method: string;
  team?: string;
  params: Params;
  time: number;
  /** The Slack error code when it failed (`ratelimited` for an injected 429). */
  error?: string;
  /** For uploads: the bytes. */
  body?: Buffer;
}

/** A delivered event and what became of it. */
export interface Delivery {
  team: string;
  eventId: string;
  payload: Obj;
  attempts: number;
  acked: boolean;
  /** HTTP statuses the app answered, per attempt. */
  statuses: number[];
}

interface RateLimit {
  method: string;
  channel?: string;
  count: number;
  retryAfter: number;
}

interface Socket {
  ws: WebSocket;
  team: string;
  pinger: NodeJS.Timeout;
}

const DEFAULT_WAIT = 15_000;

export class SlackServer {
  readonly calls: RecordedCall[] = [];
  readonly deliveries: Delivery[] = [];
  readonly workspaces = new Map<string, Workspace>();
  private readonly server: Server;
  private readonly wss: WebSocketServer;
  private readonly sockets = new Set<Socket>();
  private readonly tickets = new Map<string, string>();
  private readonly limits: RateLimit[] = [];
  private eventCounter = 0;
  private pastCounter = 0;
  private port = 0;

  private constructor() {
    this.server = createServer((req, res) => {
      this.route(req, res).catch((err: unknown) => {
        res.writeHead(500).end(String(err));
      });
    });
    this.wss = new WebSocketServer({ server: this.server, path: "/socket" });
    this.wss.on("connection", (ws, req) => this.onSocket(ws, req));
  }

  static async start(): Promise<SlackServer> {
    const s = new SlackServer();
    await new Promise<void>((r) => s.server.listen(0, "127.0.0.1", r));
    s.port = (s.server.address() as AddressInfo).port;
    return s;
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** What `clientOptions.slackApiUrl` must be. */
  get apiUrl(): string {
    return `${this.baseUrl}/api/`;
  }

  addWorkspace(spec: WorkspaceSpec): Workspace {
    const ws = new Workspace(spec);
    this.workspaces.set(ws.team, ws);
    return ws;
  }

  ws(team: string): Workspace {
    const w = this.workspaces.get(team);
    if (!w) throw new Error(`no workspace ${team}`);
    return w;
  }

  addUser(team: string, u: UserSpec): void {
    this.ws(team).addUser(u);
  }

  addChannel(team: string, c: ChannelSpec): void {
    this.ws(team).addChannel(c);
  }

  /** Makes the next `count` calls of `method` (in `channel`, if given) answer 429. */
  rateLimit(method: string, opts: { count?: number; retryAfter?: number; channel?: string } = {}): void {
    this.limits.push({
      method,
      channel: opts.channel,
      count: opts.count ?? 1,
      retryAfter: opts.retryAfter ?? 1,
    });
  }

  // ---- events ----

  /** A message from a user, as Slack delivers it; returns its ts. */
  injectMessage(
    team: string,
    m: {
      channel: string;
      user: string;
      text: string;
      thread_ts?: string;
      files?: Array<{
        name: string;
        data: Buffer;
        mimetype: string;
        thumbVideo?: { data: Buffer; w: number; h: number };
      }>;
    } & Obj,
  ): string {
    const w = this.ws(team);
    const ts = w.nextTs();
    const { files, ...rest } = m;
    const shared = files?.map((f) => {
      const id = w.nextFileId();
      const stored = {
        id,
        name: f.name,
        mimetype: f.mimetype,
        data: f.data,
        ...(f.thumbVideo ? { thumbVideo: f.thumbVideo } : {}),
        shares: new Map([[m.channel, ts]]),
      };
      w.files.set(id, stored);
      return fileObject({ ws: w, baseUrl: this.baseUrl }, stored);
    });
    w.store({ channel: m.channel, ts, text: m.text, user: m.user, thread_ts: m.thread_ts, files: shared });
    const event: Obj = { type: "message", ...rest, ts, channel_type: w.channelType(m.channel), team };
    if (shared) {
      event.files = shared;
      event.subtype = "file_share";
    }
    this.deliver(team, event);
    return ts;
  }

  /**
   * A message kept in the channel's history whose event the app never gets (Slack gave up
   * redelivering it while the app was away); only `conversations.history` shows it. Returns its ts.
   */
  missedMessage(
    team: string,
    m: { channel: string; user: string; text: string; thread_ts?: string },
  ): string {
    const w = this.ws(team);
    const ts = w.nextTs();
    w.store({ channel: m.channel, ts, text: m.text, user: m.user, thread_ts: m.thread_ts });
    return ts;
  }

  /**
   * A message posted at `at` (milliseconds, in the past) before the app was in the channel: kept
   * in its history only. Its ts carries that time (microseconds keep two of one millisecond
   * apart and in order). Returns its ts.
   */
  pastMessage(
    team: string,
    m: { channel: string; user: string; text: string; thread_ts?: string; at: number },
  ): string {
    const w = this.ws(team);
    const micro = (m.at % 1000) * 1000 + (++this.pastCounter % 500);
    const ts = `${Math.floor(m.at / 1000)}.${String(micro).padStart(6, "0")}`;
    w.store({ channel: m.channel, ts, text: m.text, user: m.user, thread_ts: m.thread_ts });
    return ts;
  }

  /** Any event (`reaction_added`, `member_joined_channel`, a malformed one…); returns its event id. */
  deliver(team: string, event: Obj, opts: { eventId?: string } = {}): string {
    const w = this.ws(team);
    const eventId = opts.eventId ?? `Ev${team.slice(1)}${String(++this.eventCounter).padStart(6, "0")}`;
    const payload: Obj = {
      token: "verification-token-unused",
      team_id: team,
      api_app_id: "A0APP",
      type: "event_callback",
      event_id: eventId,
      event_time: Math.floor(Date.now() / 1000),
      authorizations: [{ team_id: team, user_id: w.botUserId, is_bot: true, enterprise_id: null }],
      event: { event_ts: (event.ts as string | undefined) ?? w.nextTs(), ...event },
    };
    const d: Delivery = { team, eventId, payload, attempts: 0, acked: false, statuses: [] };
    this.deliveries.push(d);
    this.send(d);
    return eventId;
  }

  /** Sends an event again with the same event id, as Slack does when it believes delivery failed. */
  retry(eventId: string): void {
    const d = this.deliveries.find((x) => x.eventId === eventId);
    if (!d) throw new Error(`no delivery ${eventId}`);
    this.send(d);
  }

  private send(d: Delivery): void {
    const w = this.ws(d.team);
    if (w.mode === "http") {
      void this.postEvent(d);
      return;
    }
    const socket = [...this.sockets].find((s) => s.team === d.team && s.ws.readyState === s.ws.OPEN);
    if (!socket) return; // sent when the app connects
    const retry = d.attempts++;
    socket.ws.send(
      JSON.stringify({
        envelope_id: `${d.eventId}-${retry}-${randomUUID()}`,
        type: "events_api",
        accepts_response_payload: false,
        retry_attempt: retry,
        retry_reason: retry ? "timeout" : "",
        payload: d.payload,
      }),
    );
  }

  private async postEvent(d: Delivery): Promise<void> {
    const w = this.ws(d.team);
    if (!w.eventsUrl) throw new Error(`workspace ${d.team} has no eventsUrl`);
    for (let i = 0; i < 3; i++) {
      const retry = d.attempts++;
      const headers: Record<string, string> = retry
        ? { "x-slack-retry-num": String(retry), "x-slack-retry-reason": "http_error" }
        : {};
      const status = await this.postSigned(w.eventsUrl, JSON.stringify(d.payload), w.signingSecret, {
        headers,
      }).catch(() => 0);
      d.statuses.push(status);
      if (status === 200) {
        d.acked = true;
        return;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** A signed POST like Slack's; `secret`, `timestamp` and `signature` may be wrong on purpose. */
  async postSigned(
    url: string,
    body: string,
    secret: string,
    opts: { timestamp?: number; signature?: string; headers?: Record<string, string> } = {},
  ): Promise<number> {
    const ts = opts.timestamp ?? Math.floor(Date.now() / 1000);
    const sig =
      opts.signature ?? `v0=${createHmac("sha256", secret).update(`v0:${ts}:${body}`).digest("hex")}`;
    const r = await fetch(url, {
      method: "POST",
      body,
      headers: {
        "content-type": "application/json",
        "x-slack-request-timestamp": String(ts),
        "x-slack-signature": sig,
        ...opts.headers,
      },
    });
    await r.arrayBuffer();
    return r.status;
  }

  // ---- socket mode ----

  /** Whether the app of `team` holds an open socket that got `hello`. */
  connected(team: string): boolean {
    return [...this.sockets].some((s) => s.team === team && s.ws.readyState === s.ws.OPEN);
  }

  /** How many sockets the app of `team` has opened so far. */
  connections(team: string): number {
    return this.calls.filter((c) => c.method === "apps.connections.open" && c.team === team && !c.error)
      .length;
  }

  /**
   * Drops the app's socket: `refresh` sends Slack's `disconnect` message first (the client
   * reconnects politely), `terminate` cuts the TCP connection.
   */
  disconnect(team: string, how: "refresh" | "terminate" = "terminate"): void {
    for (const s of [...this.sockets].filter((x) => x.team === team)) {
      if (how === "refresh") s.ws.send(JSON.stringify({ type: "disconnect", reason: "refresh_requested" }));
      else s.ws.terminate();
    }
  }

  private onSocket(ws: WebSocket, req: IncomingMessage): void {
    const ticket = new URL(req.url ?? "/", this.baseUrl).searchParams.get("ticket") ?? "";
    const team = this.tickets.get(ticket);
    if (!team) {
      ws.close(4001, "bad ticket");
      return;
    }
    this.tickets.delete(ticket);
    // Slack pings; the client drops a socket that stays silent for 30 s.
    const socket: Socket = { ws, team, pinger: setInterval(() => ws.ping("slack"), 5_000) };
    this.sockets.add(socket);
    ws.on("close", () => {
      clearInterval(socket.pinger);
      this.sockets.delete(socket);
    });
    ws.on("message", (raw) => {
      let m: { envelope_id?: string };
      try {
        m = JSON.parse(raw.toString()) as { envelope_id?: string };
      } catch {
        return;
      }
      const eventId = m.envelope_id?.split("-")[0];
      const d = this.deliveries.find((x) => x.eventId === eventId);
      if (d) d.acked = true;
    });
    ws.send(
      JSON.stringify({
        type: "hello",
        num_connections: 1,
        debug_info: { host: "standin", approximate_connection_time: 3600 },
        connection_info: { app_id: "A0APP" },
      }),
    );
    // What was not acknowledged goes again, as Slack retries unacknowledged envelopes.
    for (const d of this.deliveries.filter((x) => x.team === team && !x.acked)) this.send(d);
  }

  // ---- HTTP ----

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks);
    const url = new URL(req.url ?? "/", this.baseUrl);
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1];
    if (url.pathname.startsWith("/upload/"))
      return this.upload(url, fileBytes(req.headers["content-type"] ?? "", raw), res);
    if (url.pathname.startsWith("/files-pri/") || url.pathname.startsWith("/files-tmb/"))
      return this.download(url, token, res);
    if (url.pathname.startsWith("/avatars/")) return this.avatar(url, res);
    if (url.pathname.startsWith("/emoji/")) return this.emojiImage(url, res);
    if (!url.pathname.startsWith("/api/")) {
      res.writeHead(404).end();
      return;
    }
    const method = url.pathname.slice("/api/".length);
    const params = parseParams(req.headers["content-type"] ?? "", raw, url);
    const call: RecordedCall = { method, params, time: Date.now() };
    this.calls.push(call);
    const answer = (status: number, body: Obj, headers: Record<string, string> = {}): void => {
      res.writeHead(status, { "content-type": "application/json; charset=utf-8", ...headers });
      res.end(JSON.stringify(body));
    };
    const spec = METHODS[method];
    if (!spec) {
      call.error = "unknown_method";
      return answer(200, { ok: false, error: "unknown_method" });
    }
    const w = [...this.workspaces.values()].find((x) =>
      spec.auth === "app" ? x.appToken === token : x.botToken === token,
    );
    if (!w) {
      call.error = token ? "invalid_auth" : "not_authed";
      return answer(200, { ok: false, error: call.error });
    }
    call.team = w.team;
    const limit = this.limits.find(
      (l) => l.method === method && l.count > 0 && (!l.channel || l.channel === params.channel),
    );
    if (limit) {
      limit.count--;
      call.error = "ratelimited";
      return answer(429, { ok: false, error: "ratelimited" }, { "retry-after": String(limit.retryAfter) });
    }
    try {
      const result = spec.run(
        {
          ws: w,
          baseUrl: this.baseUrl,
          echo: (event) => {
            // Slack reports the bot's own actions as events too, after answering the call.
            setTimeout(() => this.deliver(w.team, event), 20);
          },
          socketUrl: () => {
            const ticket = randomUUID();
            this.tickets.set(ticket, w.team);
            return `ws://127.0.0.1:${this.port}/socket?ticket=${ticket}`;
          },
        },
        params,
      );
      answer(200, { ok: true, ...result }, { "x-oauth-scopes": w.scopes.join(",") });
      for (const hook of [...this.answeredHooks]) hook(call);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      call.error = err.error;
      answer(200, { ok: false, error: err.error });
    }
  }

  private upload(url: URL, raw: Buffer, res: ServerResponse): void {
    const [, , team, id] = url.pathname.split("/");
    const f = this.workspaces.get(team ?? "")?.files.get(id ?? "");
    this.calls.push({ method: "UPLOAD", team, params: { file: id }, time: Date.now(), body: raw });
    if (!f) {
      res.writeHead(404).end();
      return;
    }
    f.data = raw;
    res.writeHead(200, { "content-type": "text/plain" }).end(`OK - ${raw.length}`);
  }

  private download(url: URL, token: string | undefined, res: ServerResponse): void {
    const m = /^\/files-(pri|tmb)\/(T[A-Z0-9]+)-(F[A-Z0-9]+)\//.exec(url.pathname);
    const w = m ? this.workspaces.get(m[2]!) : undefined;
    const found = w?.files.get(m?.[3] ?? "");
    // files-tmb: the file's thumbnail, where it has one.
    const f =
      m?.[1] === "tmb" ? found?.thumbVideo && { mimetype: "image/jpeg", data: found.thumbVideo.data } : found;
    this.calls.push({ method: "DOWNLOAD", team: w?.team, params: { file: m?.[3] }, time: Date.now() });
    if (!w || !f) {
      res.writeHead(404).end();
      return;
    }
    if (token !== w.botToken) {
      // Slack answers a login page to requests without the token.
      res.writeHead(200, { "content-type": "text/html" }).end("<html>sign in</html>");
      return;
    }
    res.writeHead(200, { "content-type": f.mimetype, "content-length": String(f.data.length) }).end(f.data);
  }

  /** A custom emoji's picture, served without a token as Slack's emoji CDN does. */
  private emojiImage(url: URL, res: ServerResponse): void {
    const m = /^\/emoji\/(T[A-Z0-9]+)\/([a-z0-9_+'-]+)\.png$/.exec(url.pathname);
    const image = m ? this.workspaces.get(m[1]!)?.emoji.get(m[2]!) : undefined;
    if (!Buffer.isBuffer(image)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "content-type": "image/png" }).end(image);
  }

  private avatar(url: URL, res: ServerResponse): void {
    const m = /^\/avatars\/(T[A-Z0-9]+)\/([A-Z0-9]+)\.png$/.exec(url.pathname);
    const avatar = m ? this.workspaces.get(m[1]!)?.users.get(m[2]!)?.avatar : undefined;
    this.calls.push({ method: "AVATAR", team: m?.[1], params: { user: m?.[2] }, time: Date.now() });
    if (!avatar) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "content-type": "image/png" }).end(avatar);
  }

  // ---- driver ----

  /** Calls of `method` (in `team`) that succeeded. */
  ok(method: string, team?: string): RecordedCall[] {
    return this.calls.filter((c) => c.method === method && !c.error && (!team || c.team === team));
  }

  /** Resolves with the first recorded call matching `pred` (waits for it). */
  async waitFor(pred: (c: RecordedCall) => boolean, timeoutMs = DEFAULT_WAIT): Promise<RecordedCall> {
    const start = Date.now();
    for (;;) {
      const hit = this.calls.find(pred);
      if (hit) return hit;
      if (Date.now() - start > timeoutMs) throw new Error("waitFor: no matching Slack call");
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Called synchronously right after a call was answered with ok (before the client reads it). */
  readonly answeredHooks = new Set<(c: RecordedCall) => void>();

  /** Resolves the moment a call matching `pred` has been answered ok (or at once, if one was). */
  answered(pred: (c: RecordedCall) => boolean, timeoutMs = DEFAULT_WAIT): Promise<RecordedCall> {
    const done = this.calls.find((c) => !c.error && pred(c));
    if (done) return Promise.resolve(done);
    return new Promise((resolve, reject) => {
      const hook = (c: RecordedCall) => {
        if (!pred(c)) return;
        this.answeredHooks.delete(hook);
        clearTimeout(timer);
        resolve(c);
      };
      const timer = setTimeout(() => {
        this.answeredHooks.delete(hook);
        reject(new Error("answered: no matching Slack call"));
      }, timeoutMs);
      this.answeredHooks.add(hook);
    });
  }

  /** Waits until `cond` holds. */
  async until(cond: () => boolean, timeoutMs = DEFAULT_WAIT, what = "condition"): Promise<void> {
    const start = Date.now();
    while (!cond()) {
      if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async close(): Promise<void> {
    for (const s of this.sockets) {
      clearInterval(s.pinger);
      s.ws.terminate();
    }
    this.wss.close();
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

function parseParams(contentType: string, raw: Buffer, url: URL): Params {
  const p: Params = Object.fromEntries(url.searchParams);
  if (!raw.length) return p;
  if (contentType.includes("json")) return { ...p, ...(JSON.parse(raw.toString()) as Params) };
  return { ...p, ...Object.fromEntries(new URLSearchParams(raw.toString())) };
}

/** The file in an upload: the raw body, or the first part of a multipart body (how the WebClient sends it). */
function fileBytes(contentType: string, raw: Buffer): Buffer {
  const boundary = /boundary=(?:"([^"]+)"|([^;]+))/.exec(contentType);
  if (!contentType.startsWith("multipart/form-data") || !boundary) return raw;
  const delim = Buffer.from(`--${boundary[1] ?? boundary[2]}`);
  const start = raw.indexOf(delim);
  const headerEnd = raw.indexOf("\r\n\r\n", start);
  const next = raw.indexOf(delim, headerEnd);
  if (start < 0 || headerEnd < 0 || next < 0) return raw;
  return raw.subarray(headerEnd + 4, next - 2); // the part ends with CRLF before the delimiter
}

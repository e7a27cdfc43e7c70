import { type HttpAnswer, HttpCallError, httpCall } from "../core/httpCall";

/** An error answer from the homeserver, or a failure to reach it. */
export class MatrixError extends Error {
  constructor(
    message: string,
    /** HTTP status; 0 when the homeserver could not be reached. */
    readonly status: number,
    readonly errcode?: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = "MatrixError";
  }

  /** Worth trying again later: rate limited, server error or unreachable. */
  get retryable(): boolean {
    return this.status === 0 || this.status === 429 || this.status >= 500;
  }
}

export interface RoomEventContent {
  [key: string]: unknown;
}

export interface CreateRoomOptions {
  name?: string;
  topic?: string;
  alias?: string;
  invite?: string[];
  isDirect?: boolean;
  preset?: "private_chat" | "public_chat" | "trusted_private_chat";
  initialState?: Array<{ type: string; state_key: string; content: RoomEventContent }>;
  powerLevels?: RoomEventContent;
  creationContent?: RoomEventContent;
}

export interface RoomEvent {
  event_id: string;
  type: string;
  sender: string;
  room_id: string;
  state_key?: string;
  content: RoomEventContent;
  origin_server_ts: number;
  unsigned?: Record<string, unknown>;
  redacts?: string;
}

type Query = Record<string, string | number | boolean | undefined>;

/** An encrypted file: where the ciphertext is and how to decrypt it (a media event's `file`). */
export interface EncryptedFile {
  url: string;
  [key: string]: unknown;
}

/**
 * End-to-end encryption as sending and reading need it; set on the api when the bridge may
 * take part in encrypted rooms, so every send, upload and history read goes through it.
 */
export interface RoomCrypto {
  isEncrypted(roomId: string, asUser: string): Promise<boolean>;
  /** What `userId` sends: encrypted when the room is. */
  prepare(
    userId: string,
    roomId: string,
    type: string,
    content: RoomEventContent,
  ): Promise<{ type: string; content: RoomEventContent }>;
  encryptAttachment(data: Buffer): { data: Buffer; file: Record<string, unknown> };
  decryptAttachment(data: Buffer, file: EncryptedFile): Buffer;
  /** History as `reader` can read it: encrypted events decrypted, the undecryptable left out. */
  decryptAll(events: RoomEvent[], reader: string): Promise<RoomEvent[]>;
}

/**
 * The client-server API as the appservice uses it: one shared keep-alive connection pool, the
 * as_token, and `user_id` masquerading for ghosts. Kept small on purpose: this is the hot path
 * of every bridged message, and the core needs exact control over transaction ids and retries.
 */
export class MatrixApi {
  private readonly base: string;

  constructor(
    homeserverUrl: string,
    private readonly asToken: string,
    readonly domain: string,
    private readonly timeoutMs = 60_000,
  ) {
    this.base = homeserverUrl.replace(/\/+$/, "");
  }

  /** Told whenever a request cannot reach the homeserver at all. */
  onUnreachable?: () => void;

  /** Encryption for encrypted rooms; unset: the bridge sends and reads only in the clear. */
  crypto?: RoomCrypto;

  /** A client acting as `userId` (a ghost, the bot, the AI user). */
  intent(userId: string): Intent {
    return new Intent(this, userId);
  }

  async request<T = Record<string, unknown>>(
    method: string,
    path: string,
    opts: { body?: unknown; rawBody?: Buffer; contentType?: string; userId?: string; query?: Query } = {},
  ): Promise<T> {
    let url = this.base + path;
    const params = new URLSearchParams();
    if (opts.userId) params.set("user_id", opts.userId);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) params.set(k, String(v));
    const qs = params.toString();
    if (qs) url += `?${qs}`;
    const headers: Record<string, string> = { Authorization: `Bearer ${this.asToken}` };
    let body: string | Buffer | undefined;
    if (opts.rawBody) {
      body = opts.rawBody;
      headers["Content-Type"] = opts.contentType ?? "application/octet-stream";
    } else if (opts.body !== undefined) {
      body = JSON.stringify(opts.body);
      headers["Content-Type"] = "application/json";
    }
    let res: HttpAnswer;
    try {
      res = await httpCall(url, { method, headers, body, timeoutMs: this.timeoutMs });
    } catch (err) {
      throw this.unreachable(`${method} ${path}`, err);
    }
    const text = res.body.toString("utf8");
    if (res.status < 200 || res.status > 299) {
      let errcode: string | undefined;
      let error = text.slice(0, 300);
      let retryAfterMs: number | undefined;
      try {
        const j = JSON.parse(text) as { errcode?: string; error?: string; retry_after_ms?: number };
        errcode = j.errcode;
        error = j.error ?? error;
        retryAfterMs = j.retry_after_ms;
      } catch {
        // not JSON: a proxy or a stopping server; keep the text
      }
      const header = res.headers["retry-after"];
      if (retryAfterMs === undefined && header && /^\d+$/.test(header)) retryAfterMs = Number(header) * 1000;
      throw new MatrixError(
        `${method} ${path}: ${res.status} ${errcode ?? ""} ${error}`.trim(),
        res.status,
        errcode,
        retryAfterMs,
      );
    }
    return (text ? JSON.parse(text) : {}) as T;
  }

  /** MSC2659: asks the homeserver to ping this appservice; returns the round-trip time. */
  async ping(appserviceId: string, transactionId?: string): Promise<number> {
    const res = await this.request<{ duration_ms: number }>(
      "POST",
      `/_matrix/client/v1/appservice/${encodeURIComponent(appserviceId)}/ping`,
      { body: transactionId ? { transaction_id: transactionId } : {} },
    );
    return res.duration_ms;
  }

  async versions(): Promise<string[]> {
    const res = await this.request<{ versions: string[] }>("GET", "/_matrix/client/versions");
    return res.versions;
  }

  /**
   * The media of an event's `url` or encrypted `file`, decrypted. With `maxBytes`, a larger
   * (cipher)text fails with a 413 MatrixError, or, with `truncate`, comes back cut (`truncated`;
   * an encrypted file cannot be decrypted in part, so it fails either way).
   */
  async downloadMedia(
    source: { url?: unknown; file?: unknown },
    opts: DownloadOptions = {},
  ): Promise<{ data: Buffer; contentType: string; truncated?: boolean }> {
    const file = source.file as EncryptedFile | undefined;
    if (file && typeof file === "object" && typeof file.url === "string") {
      if (!this.crypto) throw new MatrixError("an encrypted file, and encryption is not enabled", 400);
      const { data } = await this.download(file.url, { ...opts, truncate: false });
      return { data: this.crypto.decryptAttachment(data, file), contentType: "application/octet-stream" };
    }
    if (typeof source.url !== "string") throw new MatrixError("the event has no media", 400);
    return this.download(source.url, opts);
  }

  /**
   * Downloads media by mxc URI (authenticated media), as `opts.userId` when given. Redirects
   * are followed (a media repository may send the client to a CDN or object store), without
   * the token once they leave the homeserver's origin.
   */
  async download(
    mxc: string,
    opts: DownloadOptions = {},
  ): Promise<{ data: Buffer; contentType: string; truncated?: boolean }> {
    const m = /^mxc:\/\/([^/]+)\/(.+)$/.exec(mxc);
    if (!m) throw new MatrixError(`not an mxc URI: ${mxc}`, 400);
    let url = `${this.base}/_matrix/client/v1/media/download/${m[1]}/${m[2]}`;
    if (opts.userId) url += `?user_id=${encodeURIComponent(opts.userId)}`;
    const origin = new URL(url).origin;
    const what = `download ${mxc}`;
    for (let hops = 0; ; hops++) {
      const sameOrigin = new URL(url).origin === origin;
      let res: HttpAnswer;
      try {
        res = await httpCall(url, {
          method: "GET",
          headers: sameOrigin ? { Authorization: `Bearer ${this.asToken}` } : {},
          timeoutMs: opts.timeoutMs ?? Math.max(this.timeoutMs, DOWNLOAD_TIMEOUT_MS),
          signal: opts.signal,
          maxBodyBytes: opts.maxBytes,
          truncate: opts.truncate,
        });
      } catch (err) {
        if (err instanceof HttpCallError && err.code === "ERR_TOO_LARGE" && err.status !== undefined) {
          // An error answer too large to read is still reported as that error.
          if (err.status < 200 || err.status > 299)
            throw new MatrixError(`${what}: ${err.status}`, err.status);
          throw new MatrixError(`${what}: larger than ${opts.maxBytes} bytes`, 413);
        }
        throw this.unreachable(what, err, sameOrigin ? undefined : new URL(url).origin);
      }
      const location = res.headers.location;
      if (REDIRECTS.has(res.status) && location) {
        if (hops >= MAX_REDIRECTS)
          throw new MatrixError(`${what}: more than ${MAX_REDIRECTS} redirects`, 508);
        try {
          url = new URL(location, url).href;
        } catch {
          throw new MatrixError(`${what}: ${res.status} to an unreadable location`, 502);
        }
        continue;
      }
      if (res.status < 200 || res.status > 299) throw new MatrixError(`${what}: ${res.status}`, res.status);
      const contentType = res.headers["content-type"] ?? "application/octet-stream";
      return res.truncated
        ? { data: res.body, contentType, truncated: true }
        : { data: res.body, contentType };
    }
  }

  /**
   * The MatrixError for a request that got no answer: status 0, and the homeserver marked as
   * lost, unless the caller stopped the request itself or `elsewhere` (a redirect's origin) failed.
   */
  private unreachable(what: string, err: unknown, elsewhere?: string): MatrixError {
    const cause = err instanceof HttpCallError ? err.code : String(err);
    if (cause === "ABORT_ERR") return new MatrixError(`${what}: stopped`, 0);
    if (elsewhere) return new MatrixError(`${what}: ${elsewhere} unreachable (${cause})`, 0);
    this.onUnreachable?.();
    return new MatrixError(`${what}: homeserver unreachable (${cause})`, 0);
  }
}

/**
 * A download's deadline, connecting to the last byte, when the api's own is shorter: a large
 * file on a slow link takes longer than a JSON answer, and a hung one still ends.
 */
const DOWNLOAD_TIMEOUT_MS = 5 * 60_000;
/** Followed, as `fetch` follows them; at most MAX_REDIRECTS in a row. */
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 20;

/** How media is downloaded: as which user, how much at most. */
export interface DownloadOptions {
  /** The appservice user the request is made as (`user_id`); the appservice's sender when unset. */
  userId?: string;
  /** Largest body read. */
  maxBytes?: number;
  /** Past `maxBytes`: return the start (true) instead of failing with 413. */
  truncate?: boolean;
  signal?: AbortSignal;
  /** Deadline of each request (a redirect's target gets its own); default the longer of 5 minutes and the api's. */
  timeoutMs?: number;
}

const enc = encodeURIComponent;

/** Calls made as one Matrix user of the appservice's namespace. */
export class Intent {
  constructor(
    private readonly api: MatrixApi,
    readonly userId: string,
  ) {}

  private req<T = Record<string, unknown>>(
    method: string,
    path: string,
    opts: { body?: unknown; query?: Query } = {},
  ): Promise<T> {
    return this.api.request<T>(method, path, { ...opts, userId: this.userId });
  }

  /** Registers the user in the appservice namespace; an existing user is fine. */
  async ensureRegistered(): Promise<void> {
    const localpart = this.userId.slice(1, this.userId.indexOf(":"));
    try {
      await this.api.request("POST", "/_matrix/client/v3/register", {
        body: { type: "m.login.application_service", username: localpart, inhibit_login: true },
      });
    } catch (err) {
      if (err instanceof MatrixError && err.errcode === "M_USER_IN_USE") return;
      throw err;
    }
  }

  /**
   * Sends an event; `txnId` makes a retry of the same send idempotent on the homeserver.
   * `ts`: the event's origin_server_ts, milliseconds since the epoch (the appservice `ts`
   * parameter, honoured for the appservice's users): a message brought over from the platform's
   * history keeps the time it was sent there.
   */
  async sendEvent(
    roomId: string,
    type: string,
    content: RoomEventContent,
    txnId: string,
    opts: { ts?: number } = {},
  ): Promise<string> {
    const out = this.api.crypto
      ? await this.api.crypto.prepare(this.userId, roomId, type, content)
      : { type, content };
    const ts = opts.ts !== undefined && Number.isSafeInteger(opts.ts) && opts.ts > 0 ? opts.ts : undefined;
    const res = await this.req<{ event_id: string }>(
      "PUT",
      `/_matrix/client/v3/rooms/${enc(roomId)}/send/${enc(out.type)}/${enc(txnId)}`,
      { body: out.content, query: { ts } },
    );
    return res.event_id;
  }

  /** Uploads media for a room: encrypted (as `file`) when the room is, else as `url`. */
  async uploadFor(
    roomId: string,
    data: Buffer,
    contentType: string,
    filename?: string,
  ): Promise<{ url: string } | { file: EncryptedFile }> {
    const crypto = this.api.crypto;
    if (crypto && (await crypto.isEncrypted(roomId, this.userId))) {
      const sealed = crypto.encryptAttachment(data);
      const url = await this.uploadContent(sealed.data, "application/octet-stream");
      return { file: { ...sealed.file, url } };
    }
    return { url: await this.uploadContent(data, contentType, filename) };
  }

  async sendState(
    roomId: string,
    type: string,
    stateKey: string,
    content: RoomEventContent,
  ): Promise<string> {
    const res = await this.req<{ event_id: string }>(
      "PUT",
      `/_matrix/client/v3/rooms/${enc(roomId)}/state/${enc(type)}/${enc(stateKey)}`,
      { body: content },
    );
    return res.event_id;
  }

  async getState<T = RoomEventContent>(roomId: string, type: string, stateKey = ""): Promise<T | undefined> {
    try {
      return await this.req<T>(
        "GET",
        `/_matrix/client/v3/rooms/${enc(roomId)}/state/${enc(type)}/${enc(stateKey)}`,
      );
    } catch (err) {
      if (err instanceof MatrixError && err.status === 404) return undefined;
      throw err;
    }
  }

  /** A state event with its sender (`format=event`), or undefined when the room has none. */
  async getStateEvent(roomId: string, type: string, stateKey = ""): Promise<RoomEvent | undefined> {
    try {
      return await this.req<RoomEvent>(
        "GET",
        `/_matrix/client/v3/rooms/${enc(roomId)}/state/${enc(type)}/${enc(stateKey)}`,
        { query: { format: "event" } },
      );
    } catch (err) {
      if (err instanceof MatrixError && err.status === 404) return undefined;
      throw err;
    }
  }

  /** `extra`: further keys of the redaction's content (the bridge's own markers). */
  async redact(
    roomId: string,
    eventId: string,
    txnId: string,
    reason?: string,
    extra: Record<string, unknown> = {},
  ): Promise<string> {
    const res = await this.req<{ event_id: string }>(
      "PUT",
      `/_matrix/client/v3/rooms/${enc(roomId)}/redact/${enc(eventId)}/${enc(txnId)}`,
      { body: reason ? { ...extra, reason } : extra },
    );
    return res.event_id;
  }

  async createRoom(opts: CreateRoomOptions): Promise<string> {
    const body: Record<string, unknown> = {
      preset: opts.preset ?? "private_chat",
      visibility: "private",
      name: opts.name,
      topic: opts.topic,
      room_alias_name: opts.alias,
      invite: opts.invite ?? [],
      is_direct: opts.isDirect ?? false,
      initial_state: opts.initialState ?? [],
    };
    if (opts.powerLevels) body.power_level_content_override = opts.powerLevels;
    if (opts.creationContent) body.creation_content = opts.creationContent;
    const res = await this.req<{ room_id: string }>("POST", "/_matrix/client/v3/createRoom", { body });
    return res.room_id;
  }

  async join(roomIdOrAlias: string): Promise<string> {
    const res = await this.req<{ room_id: string }>("POST", `/_matrix/client/v3/join/${enc(roomIdOrAlias)}`, {
      body: {},
    });
    return res.room_id;
  }

  async leave(roomId: string, reason?: string): Promise<void> {
    await this.req("POST", `/_matrix/client/v3/rooms/${enc(roomId)}/leave`, {
      body: reason ? { reason } : {},
    });
  }

  async invite(roomId: string, userId: string): Promise<void> {
    await this.req("POST", `/_matrix/client/v3/rooms/${enc(roomId)}/invite`, { body: { user_id: userId } });
  }

  async kick(roomId: string, userId: string, reason?: string): Promise<void> {
    await this.req("POST", `/_matrix/client/v3/rooms/${enc(roomId)}/kick`, {
      body: { user_id: userId, reason },
    });
  }

  async ban(roomId: string, userId: string, reason?: string): Promise<void> {
    await this.req("POST", `/_matrix/client/v3/rooms/${enc(roomId)}/ban`, {
      body: { user_id: userId, reason },
    });
  }

  async unban(roomId: string, userId: string, reason?: string): Promise<void> {
    await this.req("POST", `/_matrix/client/v3/rooms/${enc(roomId)}/unban`, {
      body: { user_id: userId, reason },
    });
  }

  async setDisplayName(name: string): Promise<void> {
    await this.req("PUT", `/_matrix/client/v3/profile/${enc(this.userId)}/displayname`, {
      body: { displayname: name },
    });
  }

  async setAvatarUrl(mxc: string): Promise<void> {
    await this.req("PUT", `/_matrix/client/v3/profile/${enc(this.userId)}/avatar_url`, {
      body: { avatar_url: mxc },
    });
  }

  async getProfile(userId: string): Promise<{ displayname?: string; avatar_url?: string }> {
    try {
      return await this.req("GET", `/_matrix/client/v3/profile/${enc(userId)}`);
    } catch (err) {
      if (err instanceof MatrixError && err.status === 404) return {};
      throw err;
    }
  }

  async setTyping(roomId: string, typing: boolean, timeoutMs = 30_000): Promise<void> {
    await this.req("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/typing/${enc(this.userId)}`, {
      body: typing ? { typing, timeout: timeoutMs } : { typing },
    });
  }

  async sendReceipt(roomId: string, eventId: string): Promise<void> {
    await this.req("POST", `/_matrix/client/v3/rooms/${enc(roomId)}/receipt/m.read/${enc(eventId)}`, {
      body: {},
    });
  }

  async joinedMembers(
    roomId: string,
  ): Promise<Record<string, { display_name?: string; avatar_url?: string }>> {
    const res = await this.req<{ joined: Record<string, { display_name?: string; avatar_url?: string }> }>(
      "GET",
      `/_matrix/client/v3/rooms/${enc(roomId)}/joined_members`,
    );
    return res.joined;
  }

  async getEvent(roomId: string, eventId: string): Promise<RoomEvent> {
    return this.req<RoomEvent>("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/event/${enc(eventId)}`);
  }

  async uploadContent(data: Buffer, contentType: string, filename?: string): Promise<string> {
    const res = await this.api.request<{ content_uri: string }>("POST", "/_matrix/media/v3/upload", {
      rawBody: data,
      contentType,
      userId: this.userId,
      query: { filename },
    });
    return res.content_uri;
  }

  async setRoomAlias(alias: string, roomId: string): Promise<void> {
    await this.req("PUT", `/_matrix/client/v3/directory/room/${enc(alias)}`, { body: { room_id: roomId } });
  }
}

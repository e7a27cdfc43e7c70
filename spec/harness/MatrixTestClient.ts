import { randomBytes } from "node:crypto";
import type { SynapseServer } from "../../scripts/lib/synapse";

/** A Matrix event as seen by the test client; `room_id` is always filled in (from the sync section if absent). */
export interface MatrixEvent {
  type: string;
  room_id: string;
  sender: string;
  content: Record<string, unknown>;
  event_id?: string;
  state_key?: string;
  origin_server_ts?: number;
  redacts?: string;
  unsigned?: Record<string, unknown>;
}

/** A pending invite from /sync (`rooms.invite`): the stripped state the inviter shared. */
export interface MatrixInvite {
  roomId: string;
  /** Sender of the `m.room.member` invite event for this user, when present. */
  inviter?: string;
  events: MatrixEvent[];
}

/** Body of `POST /createRoom` (snake_case as on the wire); unknown keys are passed through. */
export interface CreateRoomOptions {
  name?: string;
  topic?: string;
  invite?: string[];
  is_direct?: boolean;
  preset?: "private_chat" | "public_chat" | "trusted_private_chat";
  visibility?: "public" | "private";
  room_alias_name?: string;
  initial_state?: Array<{ type: string; state_key?: string; content: Record<string, unknown> }>;
  power_level_content_override?: Record<string, unknown>;
  [key: string]: unknown;
}

/** Options of {@link MatrixTestClient.waitFor}. */
export interface WaitOptions {
  /** Default 15000. */
  timeoutMs?: number;
  /** Only consider events of this room (also makes the timeout message list that room's events). */
  roomId?: string;
}

interface Waiter<T> {
  match: (item: T) => boolean;
  resolve: (item: T) => void;
}

/** One room of a /sync response. */
export interface SyncRoom {
  state?: { events?: RawEvent[] };
  timeline?: { events?: RawEvent[] };
  ephemeral?: { events?: RawEvent[] };
  invite_state?: { events?: RawEvent[] };
}
/** An event as it arrives from the server (`room_id` absent in /sync room sections). */
export type RawEvent = Omit<MatrixEvent, "room_id"> & { room_id?: string };
/** The parts of a /sync response the test clients read. */
export interface SyncResponse {
  next_batch: string;
  rooms?: {
    join?: Record<string, SyncRoom>;
    invite?: Record<string, SyncRoom>;
    leave?: Record<string, SyncRoom>;
  };
  to_device?: { events?: Array<Record<string, unknown>> };
  device_lists?: { changed?: string[]; left?: string[] };
  device_one_time_keys_count?: Record<string, number>;
  device_unused_fallback_key_types?: string[];
}

/** Options of the {@link MatrixTestClient} constructor, for subclasses that process /sync themselves. */
export interface SyncOptions {
  /** Start the sync loop in the constructor (default true); otherwise the subclass calls `startSync()`. */
  startSync?: boolean;
  /** Long-poll timeout of /sync in ms (default 30000). */
  pollTimeoutMs?: number;
  /** Sync filter (JSON); default lazy-loads members. */
  filter?: string;
}

/** Error from the client-server API, with the HTTP status and Matrix errcode. */
export class MatrixHttpError extends Error {
  constructor(
    readonly status: number,
    readonly errcode: string | undefined,
    message: string,
  ) {
    super(message);
  }
}

const SYNC_FILTER = JSON.stringify({
  room: { state: { lazy_load_members: true }, timeline: { limit: 100, lazy_load_members: true } },
  presence: { types: [] },
});

function describe(e: MatrixEvent): string {
  const body = typeof e.content.body === "string" ? ` ${JSON.stringify(e.content.body.slice(0, 80))}` : "";
  const key = e.state_key !== undefined ? ` [${e.state_key}]` : "";
  const membership = typeof e.content.membership === "string" ? ` ${e.content.membership}` : "";
  return `${e.type}${key}${membership} from ${e.sender}${body} (${e.event_id ?? "no id"})`;
}

function inRoom(predicate: (e: MatrixEvent) => boolean, roomId?: string): (e: MatrixEvent) => boolean {
  return (e) => (roomId === undefined || e.room_id === roomId) && predicate(e);
}

/**
 * A small Matrix client for tests, on `fetch`. It syncs in the background from construction on, keeps every
 * timeline/state event per room and the pending invites, and lets tests wait for events by predicate.
 */
export class MatrixTestClient {
  private readonly timelines = new Map<string, MatrixEvent[]>();
  private readonly ephemeral: MatrixEvent[] = [];
  private readonly invites = new Map<string, MatrixInvite>();
  private readonly eventWaiters = new Set<Waiter<MatrixEvent>>();
  private readonly ephemeralWaiters = new Set<Waiter<MatrixEvent>>();
  private readonly inviteWaiters = new Set<Waiter<MatrixInvite>>();
  private readonly abort = new AbortController();
  private stopped = false;
  private txn = 0;
  private loop: Promise<void> | undefined;
  private readonly pollTimeoutMs: number;
  private readonly filter: string;
  /** The last error of the sync loop (it retries), for diagnostics. */
  lastSyncError: string | undefined;

  constructor(
    readonly baseUrl: string,
    readonly userId: string,
    readonly accessToken: string,
    opts: SyncOptions = {},
  ) {
    this.pollTimeoutMs = opts.pollTimeoutMs ?? 30_000;
    this.filter = opts.filter ?? SYNC_FILTER;
    if (opts.startSync !== false) this.startSync();
  }

  /** Starts the background sync loop (once). */
  protected startSync(): void {
    this.loop ??= this.syncLoop();
  }

  /** Resolves when the sync loop has ended (after {@link stop}, or at once if it never started). */
  protected syncEnded(): Promise<void> {
    return this.loop ?? Promise.resolve();
  }

  /** Registers `localpart` on the given Synapse (shared-secret API) and starts syncing as that user. */
  static async register(synapse: SynapseServer, localpart: string): Promise<MatrixTestClient> {
    const user = await synapse.registerUser(localpart);
    return new MatrixTestClient(synapse.url, user.userId, user.accessToken);
  }

  /** Calls the client-server API (`path` below `/_matrix/client/v3` unless it starts with `/_`). */
  async request<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    const url = `${this.baseUrl}${path.startsWith("/_") ? "" : "/_matrix/client/v3"}${path}`;
    const res = await fetch(url, {
      method,
      headers: { authorization: `Bearer ${this.accessToken}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
    });
    const text = await res.text();
    const json = (text ? JSON.parse(text) : {}) as T & { errcode?: string; error?: string };
    const what = `${method} ${path}: ${res.status} ${json.errcode} ${json.error}`;
    if (!res.ok) throw new MatrixHttpError(res.status, json.errcode, what);
    return json;
  }

  protected txnId(): string {
    this.txn += 1;
    return `t${Date.now()}-${this.txn}-${randomBytes(4).toString("hex")}`;
  }

  /** `/rooms/{roomId}/{parts…}` with every segment URI-encoded. */
  protected room(roomId: string, ...parts: string[]): string {
    return ["/rooms", roomId, ...parts].map((p, i) => (i === 0 ? p : encodeURIComponent(p))).join("/");
  }

  private async eventId(method: string, path: string, body: unknown): Promise<string> {
    return (await this.request<{ event_id: string }>(method, path, body)).event_id;
  }

  /** Creates a room and returns its id. */
  async createRoom(opts: CreateRoomOptions = {}): Promise<string> {
    return (await this.request<{ room_id: string }>("POST", "/createRoom", opts)).room_id;
  }

  /** Creates a direct chat (`is_direct`, trusted private preset) inviting `userId`; returns the room id. */
  createDm(userId: string): Promise<string> {
    return this.createRoom({ is_direct: true, invite: [userId], preset: "trusted_private_chat" });
  }

  async invite(roomId: string, userId: string): Promise<void> {
    await this.request("POST", this.room(roomId, "invite"), { user_id: userId });
  }

  /** Joins by room id or alias; returns the room id. */
  async join(roomIdOrAlias: string): Promise<string> {
    const path = `/join/${encodeURIComponent(roomIdOrAlias)}`;
    return (await this.request<{ room_id: string }>("POST", path, {})).room_id;
  }

  async leave(roomId: string): Promise<void> {
    await this.request("POST", this.room(roomId, "leave"), {});
  }

  async kick(roomId: string, userId: string, reason?: string): Promise<void> {
    await this.request("POST", this.room(roomId, "kick"), { user_id: userId, reason });
  }

  async ban(roomId: string, userId: string, reason?: string): Promise<void> {
    await this.request("POST", this.room(roomId, "ban"), { user_id: userId, reason });
  }

  /** Sends `m.room.message` with `msgtype: m.text`; returns the event id. */
  sendText(roomId: string, body: string, extraContent: Record<string, unknown> = {}): Promise<string> {
    return this.sendEvent(roomId, "m.room.message", { msgtype: "m.text", body, ...extraContent });
  }

  /** Sends any message-like event with a fresh transaction id; returns the event id. */
  sendEvent(roomId: string, type: string, content: Record<string, unknown>): Promise<string> {
    return this.eventId("PUT", this.room(roomId, "send", type, this.txnId()), content);
  }

  sendState(
    roomId: string,
    type: string,
    stateKey: string,
    content: Record<string, unknown>,
  ): Promise<string> {
    return this.eventId("PUT", this.room(roomId, "state", type, stateKey), content);
  }

  redact(roomId: string, eventId: string, reason?: string): Promise<string> {
    return this.eventId("PUT", this.room(roomId, "redact", eventId, this.txnId()), reason ? { reason } : {});
  }

  react(roomId: string, eventId: string, key: string): Promise<string> {
    const relation = { rel_type: "m.annotation", event_id: eventId, key };
    return this.sendEvent(roomId, "m.reaction", { "m.relates_to": relation });
  }

  edit(roomId: string, eventId: string, newBody: string): Promise<string> {
    return this.sendText(roomId, `* ${newBody}`, {
      "m.new_content": { msgtype: "m.text", body: newBody },
      "m.relates_to": { rel_type: "m.replace", event_id: eventId },
    });
  }

  reply(roomId: string, eventId: string, body: string): Promise<string> {
    return this.sendText(roomId, body, { "m.relates_to": { "m.in_reply_to": { event_id: eventId } } });
  }

  /** Content of a state event; rejects with a {@link MatrixHttpError} (404 M_NOT_FOUND) when absent. */
  getState(roomId: string, type: string, stateKey = ""): Promise<Record<string, unknown>> {
    return this.request<Record<string, unknown>>("GET", this.room(roomId, "state", type, stateKey));
  }

  /** Current members with their membership and display name. */
  async members(
    roomId: string,
  ): Promise<Array<{ userId: string; membership: string; displayName?: string }>> {
    const res = await this.request<{ chunk: RawEvent[] }>("GET", this.room(roomId, "members"));
    return res.chunk.map((e) => ({
      userId: e.state_key ?? "",
      membership: String(e.content.membership),
      displayName: typeof e.content.displayname === "string" ? e.content.displayname : undefined,
    }));
  }

  /** `GET /messages` from the end of the room (dir "b", newest first) or its start (dir "f"). */
  async messages(roomId: string, opts: { limit?: number; dir?: "b" | "f" } = {}): Promise<MatrixEvent[]> {
    const q = new URLSearchParams({ limit: String(opts.limit ?? 50), dir: opts.dir ?? "b" });
    const res = await this.request<{ chunk: RawEvent[] }>("GET", `${this.room(roomId, "messages")}?${q}`);
    return res.chunk.map((e) => ({ ...e, room_id: roomId }));
  }

  async setTyping(roomId: string, typing: boolean, timeoutMs = 30_000): Promise<void> {
    const body = typing ? { typing, timeout: timeoutMs } : { typing };
    await this.request("PUT", this.room(roomId, "typing", this.userId), body);
  }

  async setDisplayName(name: string): Promise<void> {
    const path = `/profile/${encodeURIComponent(this.userId)}/displayname`;
    await this.request("PUT", path, { displayname: name });
  }

  profile(userId: string): Promise<{ displayname?: string; avatar_url?: string }> {
    return this.request("GET", `/profile/${encodeURIComponent(userId)}`);
  }

  /** Every state/timeline event seen by sync in the room so far, in order. */
  eventsIn(roomId: string): MatrixEvent[] {
    return [...(this.timelines.get(roomId) ?? [])];
  }

  /** Resolves with the first seen (or later seen) timeline/state event matching `predicate`. */
  waitFor(predicate: (e: MatrixEvent) => boolean, opts: WaitOptions = {}): Promise<MatrixEvent> {
    const match = inRoom(predicate, opts.roomId);
    const seen = opts.roomId === undefined ? [...this.timelines.values()].flat() : this.eventsIn(opts.roomId);
    return this.wait(this.eventWaiters, seen, match, opts.timeoutMs, () => this.seenSummary(opts.roomId));
  }

  /** Like {@link waitFor} for ephemeral events (`m.typing`, `m.receipt`). */
  waitForEphemeral(predicate: (e: MatrixEvent) => boolean, opts: WaitOptions = {}): Promise<MatrixEvent> {
    const line = (e: MatrixEvent) => `${e.room_id} ${e.type} ${JSON.stringify(e.content)}`;
    const summary = () => this.ephemeral.slice(-20).map(line).join("\n");
    const match = inRoom(predicate, opts.roomId);
    return this.wait(this.ephemeralWaiters, this.ephemeral, match, opts.timeoutMs, summary);
  }

  /** Resolves with the first pending invite (already seen or later) matching `predicate`. */
  waitForInvite(
    predicate: (i: MatrixInvite) => boolean = () => true,
    timeoutMs?: number,
  ): Promise<MatrixInvite> {
    const summary = () => [...this.invites.values()].map((i) => `${i.roomId} from ${i.inviter}`).join("\n");
    return this.wait(this.inviteWaiters, [...this.invites.values()], predicate, timeoutMs, summary);
  }

  private wait<T>(
    waiters: Set<Waiter<T>>,
    seen: T[],
    match: (item: T) => boolean,
    timeoutMs = 15_000,
    summary: () => string,
  ): Promise<T> {
    const hit = seen.find(match);
    if (hit !== undefined) return Promise.resolve(hit);
    return new Promise<T>((resolve, reject) => {
      const waiter: Waiter<T> = {
        match,
        resolve: (item) => {
          clearTimeout(timer);
          waiters.delete(waiter);
          resolve(item);
        },
      };
      const timer = setTimeout(() => {
        waiters.delete(waiter);
        const err = this.lastSyncError ? `\nlast sync error: ${this.lastSyncError}` : "";
        const what = `${this.userId}: no matching event within ${timeoutMs} ms; seen:\n${summary()}${err}`;
        reject(new Error(what));
      }, timeoutMs);
      waiters.add(waiter);
    });
  }

  private seenSummary(roomId: string | undefined): string {
    const rooms = roomId === undefined ? [...this.timelines.keys()] : [roomId];
    const lines = (r: string) => (this.timelines.get(r) ?? []).slice(-30).map((e) => `  ${describe(e)}`);
    return rooms.map((r) => [`room ${r}:`, ...lines(r)].join("\n")).join("\n");
  }

  private record<T>(item: T, list: T[], waiters: Set<Waiter<T>>): void {
    list.push(item);
    for (const w of [...waiters]) if (w.match(item)) w.resolve(item);
  }

  /** Records one /sync response; subclasses extend it (the loop waits for it before the next poll). */
  protected async handleSync(sync: SyncResponse): Promise<void> {
    this.ingest(sync);
  }

  private ingest(sync: SyncResponse): void {
    const rooms = sync.rooms ?? {};
    const joinedOrLeft = [...Object.entries(rooms.join ?? {}), ...Object.entries(rooms.leave ?? {})];
    for (const [roomId, room] of joinedOrLeft) {
      this.invites.delete(roomId);
      const list = this.timelines.get(roomId) ?? [];
      this.timelines.set(roomId, list);
      const known = new Set(list.map((e) => e.event_id));
      for (const raw of [...(room.state?.events ?? []), ...(room.timeline?.events ?? [])]) {
        if (raw.event_id !== undefined && known.has(raw.event_id)) continue;
        this.record({ ...raw, room_id: roomId }, list, this.eventWaiters);
      }
      for (const raw of room.ephemeral?.events ?? []) {
        const event = { ...raw, sender: raw.sender ?? "", room_id: roomId };
        this.record(event, this.ephemeral, this.ephemeralWaiters);
      }
    }
    for (const [roomId, room] of Object.entries(rooms.invite ?? {})) {
      const events = (room.invite_state?.events ?? []).map((e) => ({ ...e, room_id: roomId }));
      const own = events.find((e) => e.type === "m.room.member" && e.state_key === this.userId);
      const invite: MatrixInvite = { roomId, inviter: own?.sender, events };
      this.invites.set(roomId, invite);
      for (const w of [...this.inviteWaiters]) if (w.match(invite)) w.resolve(invite);
    }
  }

  private async syncLoop(): Promise<void> {
    let since: string | undefined;
    while (!this.stopped) {
      const q = new URLSearchParams({
        filter: this.filter,
        timeout: since ? String(this.pollTimeoutMs) : "0",
      });
      if (since) q.set("since", since);
      try {
        const res = await this.request<SyncResponse>("GET", `/sync?${q}`, undefined, this.abort.signal);
        await this.handleSync(res);
        since = res.next_batch;
        this.lastSyncError = undefined;
      } catch (err) {
        if (this.stopped) return;
        this.lastSyncError = String(err);
        if (err instanceof MatrixHttpError && err.status === 401) return;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  /** Stops the background sync (aborts the current long poll). */
  stop(): void {
    this.stopped = true;
    this.abort.abort();
  }
}

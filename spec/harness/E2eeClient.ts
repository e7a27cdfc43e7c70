import { randomBytes } from "node:crypto";
import {
  CollectStrategy,
  DecryptionErrorCode,
  DecryptionSettings,
  DeviceId,
  DeviceLists,
  EncryptionSettings,
  initAsync,
  MegolmDecryptionError,
  OlmMachine,
  ProcessedToDeviceEventType,
  RoomId,
  TrustRequirement,
  UserId,
} from "@matrix-org/matrix-sdk-crypto-wasm";
import type { SynapseServer } from "../../scripts/lib/synapse";
import { DecryptedTimeline, type E2eeEvent } from "./DecryptedTimeline";
import {
  decryptAttachment,
  downloadMedia,
  type EncryptedFile,
  encryptAttachment,
  uploadMedia,
} from "./encryptedMedia";
import { MatrixTestClient, type RawEvent, type SyncResponse } from "./MatrixTestClient";
import { OlmRequestSender } from "./OlmRequestSender";

export type { E2eeEvent } from "./DecryptedTimeline";
export type { EncryptedFile } from "./encryptedMedia";

/** A to-device event this client received, after the crypto processed it. */
export interface ToDeviceRecord {
  kind: "decrypted" | "utd" | "plain" | "invalid";
  type: string;
  sender: string;
  /** Decrypted (or plain) content; key material may have been zeroized by the crypto. */
  content: Record<string, unknown>;
}

/** Options of {@link E2eeClient.register} / {@link E2eeClient.login}. */
export interface E2eeClientOptions {
  /** Device id to log in with (default: random `E2E…`). */
  deviceId?: string;
  /** /sync long-poll timeout in ms (default 1000, so tests and `stop()` are quick). */
  pollTimeoutMs?: number;
  /** Create a cross-signing identity and sign this device with it, as Element does on first login (default false). */
  crossSigning?: boolean;
}

/** Options of {@link E2eeClient.sendEncrypted}. */
export interface SendOptions {
  /**
   * Starts a new megolm session, sends the event before that session's to-device key messages and awaits this
   * (given the event id) in between: the receivers get the event before its key, as after a slow to-device delivery.
   */
  beforeKeys?: (eventId: string) => Promise<unknown>;
}

const MEGOLM = "m.megolm.v1.aes-sha2";
// No lazy loading: the member list of every joined room arrives in full, for device tracking.
const E2EE_FILTER = JSON.stringify({ room: { timeline: { limit: 100 } }, presence: { types: [] } });
const TO_DEVICE_KIND: Record<number, ToDeviceRecord["kind"]> = {
  [ProcessedToDeviceEventType.Decrypted]: "decrypted",
  [ProcessedToDeviceEventType.UnableToDecrypt]: "utd",
  [ProcessedToDeviceEventType.PlainText]: "plain",
  [ProcessedToDeviceEventType.Invalid]: "invalid",
};

let wasmReady: Promise<void> | undefined;
function loadWasm(): Promise<void> {
  wasmReady ??= initAsync();
  return wasmReady;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function userIds(ids: Iterable<string>): UserId[] {
  const out: UserId[] = [];
  for (const id of ids) {
    try {
      out.push(new UserId(id));
    } catch {
      // A malformed id from the server cannot be tracked; skip it.
    }
  }
  return out;
}

function utdOf(err: unknown): { code: string; message: string } {
  if (err instanceof MegolmDecryptionError) {
    return { code: DecryptionErrorCode[err.code] ?? String(err.code), message: err.description };
  }
  return { code: "Error", message: err instanceof Error ? err.message : String(err) };
}

/**
 * A Matrix user with a real end-to-end-encrypted device, for tests: an in-memory `OlmMachine` of
 * `@matrix-org/matrix-sdk-crypto-wasm` driven over the client-server API, independent of the bridge's own
 * crypto. Every `sendEvent` (so `sendText`, `reply`, `edit`, `react` inherited from {@link MatrixTestClient})
 * is encrypted; `sendPlain` sends cleartext. The inherited `waitFor`/`eventsIn` see the raw events (ciphertext);
 * {@link waitForEvent}/{@link timeline} see them decrypted.
 */
export class E2eeClient extends MatrixTestClient {
  private readonly decrypted = new DecryptedTimeline();
  private readonly membership = new Map<string, Map<string, string>>();
  private readonly encryptedRooms = new Set<string>();
  private readonly tracked = new Set<string>();
  /** To-device events received, in order (room keys arrive here as `decrypted` `m.room_key`). */
  readonly toDevice: ToDeviceRecord[] = [];
  /** Errors of the crypto steps of the sync loop (it carries on), for diagnostics. */
  readonly cryptoErrors: string[] = [];
  private readonly outgoing: OlmRequestSender;
  private sendChain: Promise<unknown> = Promise.resolve();
  private retryChain: Promise<unknown> = Promise.resolve();
  private firstSync!: () => void;
  /** Resolves after the first /sync has been processed. */
  readonly ready = new Promise<void>((resolve) => {
    this.firstSync = resolve;
  });
  private closed = false;

  private constructor(
    baseUrl: string,
    userId: string,
    accessToken: string,
    readonly deviceId: string,
    private readonly machine: OlmMachine,
    pollTimeoutMs: number,
  ) {
    super(baseUrl, userId, accessToken, { startSync: false, pollTimeoutMs, filter: E2EE_FILTER });
    this.outgoing = new OlmRequestSender(machine, (method, path, body) => this.request(method, path, body));
    machine.registerRoomKeyUpdatedCallback(async (infos) => {
      const rooms = new Set(infos.map((i) => i.roomId.toString()));
      // Not awaited: decrypting from inside the machine's callback could wait on the machine itself.
      setImmediate(() => void this.retryUndecrypted(rooms));
    });
  }

  /** Registers `localpart` (shared-secret API), logs in with a fresh device, uploads its keys and syncs once. */
  static override async register(
    synapse: SynapseServer,
    localpart: string,
    opts: E2eeClientOptions = {},
  ): Promise<E2eeClient> {
    const user = await synapse.registerUser(localpart);
    return E2eeClient.login(synapse.url, user.userId, user.password, opts);
  }

  /** Logs in with a password as a new device (another device of an existing user, say). */
  static async login(
    baseUrl: string,
    userId: string,
    password: string,
    opts: E2eeClientOptions = {},
  ): Promise<E2eeClient> {
    const deviceId = opts.deviceId ?? `E2E${randomBytes(5).toString("hex").toUpperCase()}`;
    const res = await fetch(`${baseUrl}/_matrix/client/v3/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        type: "m.login.password",
        identifier: { type: "m.id.user", user: userId },
        password,
        device_id: deviceId,
        initial_device_display_name: `e2ee test client ${deviceId}`,
      }),
    });
    const body = (await res.json()) as { access_token?: string; device_id?: string; errcode?: string };
    if (!res.ok || !body.access_token)
      throw new Error(`login of ${userId} failed: ${res.status} ${body.errcode}`);
    await loadWasm();
    const machine = await OlmMachine.initialize(new UserId(userId), new DeviceId(deviceId));
    const client = new E2eeClient(
      baseUrl,
      userId,
      body.access_token,
      deviceId,
      machine,
      opts.pollTimeoutMs ?? 1000,
    );
    await client.outgoing.flush(); // device keys and one-time keys, before anyone can query them
    if (opts.crossSigning) await client.bootstrapCrossSigning(password);
    client.startSync();
    const ended = client.syncEnded().then(() => {
      throw new Error(`${userId}: /sync ended before its first answer (${client.lastSyncError})`);
    });
    await Promise.race([client.ready, ended]);
    return client;
  }

  /** This device's Curve25519 identity key (base64), as others see it in `sender_key`/key queries. */
  get curve25519Key(): string {
    return this.machine.identityKeys.curve25519.toBase64();
  }

  /** This device's Ed25519 signing key (base64). */
  get ed25519Key(): string {
    return this.machine.identityKeys.ed25519.toBase64();
  }

  // ---- rooms -------------------------------------------------------------------------------------------------

  /**
   * Creates a cross-signing identity (master, self-signing and user-signing keys), uploads it (answering the
   * password step of user-interactive auth when the server asks) and signs this device with it.
   */
  async bootstrapCrossSigning(password: string): Promise<void> {
    const reqs = await this.machine.bootstrapCrossSigning(true);
    await this.outgoing.serially(async () => {
      if (reqs.uploadKeysRequest) await this.outgoing.send(reqs.uploadKeysRequest);
    });
    const keys = JSON.parse(reqs.uploadSigningKeysRequest.body) as Record<string, unknown>;
    const upload = async (auth?: Record<string, unknown>) => {
      const res = await fetch(`${this.baseUrl}/_matrix/client/v3/keys/device_signing/upload`, {
        method: "POST",
        headers: { authorization: `Bearer ${this.accessToken}`, "content-type": "application/json" },
        body: JSON.stringify(auth ? { ...keys, auth } : keys),
      });
      return { status: res.status, body: (await res.json()) as { session?: string; errcode?: string } };
    };
    let res = await upload();
    if (res.status === 401) {
      const identifier = { type: "m.id.user", user: this.userId };
      res = await upload({ type: "m.login.password", identifier, password, session: res.body.session });
    }
    if (res.status !== 200) throw new Error(`cross-signing upload: ${res.status} ${res.body.errcode}`);
    await this.outgoing.serially(() => this.outgoing.send(reqs.uploadSignaturesRequest));
  }

  /**
   * What this client's crypto knows of a device (its keys are queried first): whether its owner's cross-signing
   * identity signed it, and whether this client trusts it. `undefined` for a device the server does not list.
   */
  async deviceInfo(
    userId: string,
    deviceId: string,
  ): Promise<{ crossSignedByOwner: boolean; verified: boolean; curve25519?: string } | undefined> {
    await this.machine.updateTrackedUsers(userIds([userId]));
    await this.machine.markAllTrackedUsersAsDirty();
    await this.outgoing.flush();
    const device = await this.machine.getDevice(new UserId(userId), new DeviceId(deviceId));
    if (!device) return undefined;
    return {
      crossSignedByOwner: device.isCrossSignedByOwner(),
      verified: device.isVerified(),
      curve25519: device.curve25519Key?.toBase64(),
    };
  }

  /** Discards this device's outbound megolm session of the room: the next send starts (and shares) a new one. */
  async rotateRoomKey(roomId: string): Promise<void> {
    await this.machine.invalidateGroupSession(new RoomId(roomId));
  }

  /** Creates a room with `m.room.encryption` (megolm) in its initial state; returns its id. */
  createEncryptedRoom(opts: { invite?: string[]; name?: string; isDirect?: boolean } = {}): Promise<string> {
    return this.createRoom({
      name: opts.name,
      invite: opts.invite,
      is_direct: opts.isDirect,
      preset: opts.isDirect ? "trusted_private_chat" : "private_chat",
      initial_state: [{ type: "m.room.encryption", state_key: "", content: { algorithm: MEGOLM } }],
    });
  }

  /** Turns encryption on in an existing room (`m.room.encryption` state, megolm). */
  async enableEncryption(roomId: string): Promise<void> {
    await this.sendState(roomId, "m.room.encryption", "", { algorithm: MEGOLM });
  }

  /** Whether this client has seen `m.room.encryption` in the room through /sync. */
  isEncrypted(roomId: string): boolean {
    return this.encryptedRooms.has(roomId);
  }

  /** Members (join and invite) of the room as seen through /sync. */
  roomMembers(roomId: string): string[] {
    const m = this.membership.get(roomId) ?? new Map<string, string>();
    return [...m]
      .filter(([, membership]) => membership === "join" || membership === "invite")
      .map(([u]) => u);
  }

  // ---- sending -----------------------------------------------------------------------------------------------

  /** Every send of this client is encrypted (the inherited `sendText`, `reply`, `edit`, `react` included). */
  override sendEvent(roomId: string, type: string, content: Record<string, unknown>): Promise<string> {
    return this.sendEncrypted(roomId, type, content);
  }

  /** Sends a cleartext event (e.g. to check how others treat plaintext in an encrypted room). */
  sendPlain(roomId: string, type: string, content: Record<string, unknown>): Promise<string> {
    return super.sendEvent(roomId, type, content);
  }

  /**
   * Encrypts `content` for every device of every joined or invited member (as the server lists them now), shares
   * the room key over Olm to-device messages where needed, and sends the `m.room.encrypted` event; returns its id.
   */
  sendEncrypted(
    roomId: string,
    type: string,
    content: Record<string, unknown>,
    opts: SendOptions = {},
  ): Promise<string> {
    const run = this.sendChain.then(() => this.encryptAndSend(roomId, type, content, opts));
    this.sendChain = run.catch(() => undefined);
    return run;
  }

  private async encryptAndSend(
    roomId: string,
    type: string,
    content: Record<string, unknown>,
    opts: SendOptions,
  ): Promise<string> {
    // The server's member list, not the synced one: an invite made a moment ago must already get the key.
    const res = await this.request<{ chunk: RawEvent[] }>("GET", this.room(roomId, "members"));
    const members = res.chunk
      .filter((e) => e.content.membership === "join" || e.content.membership === "invite")
      .map((e) => e.state_key ?? "");
    // Re-query every member's devices before each send, so a device that appeared a moment ago (and whose
    // device-list change has not reached this client's /sync yet) still gets the key: tests must not race.
    await this.machine.updateTrackedUsers(userIds(members));
    for (const u of members) this.tracked.add(u);
    await this.machine.markAllTrackedUsersAsDirty();
    await this.outgoing.flush();
    if (opts.beforeKeys) await this.rotateRoomKey(roomId);
    const shares = await this.outgoing.serially(async () => {
      const claim = await this.machine.getMissingSessions(userIds(members));
      if (claim) await this.outgoing.send(claim);
      const settings = new EncryptionSettings();
      settings.sharingStrategy = CollectStrategy.allDevices();
      return this.machine.shareRoomKey(new RoomId(roomId), userIds(members), settings);
    });
    const sendShares = () =>
      this.outgoing.serially(async () => {
        for (const share of shares) await this.outgoing.send(share);
      });
    if (!opts.beforeKeys) await sendShares();
    const encrypted = await this.machine.encryptRoomEvent(new RoomId(roomId), type, JSON.stringify(content));
    const path = this.room(roomId, "send", "m.room.encrypted", this.txnId());
    const eventId = (await this.request<{ event_id: string }>("PUT", path, JSON.parse(encrypted))).event_id;
    if (opts.beforeKeys) {
      await opts.beforeKeys(eventId);
      await sendShares();
    }
    return eventId;
  }

  /** Sends `content` as an `m.room.encrypted` event as it is (a hostile or broken envelope). Returns its event id. */
  async sendRawEncrypted(roomId: string, content: Record<string, unknown>): Promise<string> {
    const path = this.room(roomId, "send", "m.room.encrypted", this.txnId());
    return (await this.request<{ event_id: string }>("PUT", path, content)).event_id;
  }

  /**
   * The content of an `m.room.encrypted` event whose megolm session nobody else ever receives (a throwaway
   * device made it): every other member sees it as undecryptable.
   */
  async undecryptableContent(
    roomId: string,
    body = "nobody holds the key to this",
  ): Promise<Record<string, unknown>> {
    const throwaway = await OlmMachine.initialize(new UserId(this.userId), new DeviceId(`UTD${Date.now()}`));
    try {
      await throwaway.shareRoomKey(new RoomId(roomId), [], new EncryptionSettings());
      const content = JSON.stringify({ msgtype: "m.text", body });
      return JSON.parse(await throwaway.encryptRoomEvent(new RoomId(roomId), "m.room.message", content));
    } finally {
      throwaway.close();
    }
  }

  /** Sends an event nobody else can decrypt (see `undecryptableContent`). Returns its event id. */
  async sendUndecryptable(roomId: string, body?: string): Promise<string> {
    return this.sendRawEncrypted(roomId, await this.undecryptableContent(roomId, body));
  }

  /**
   * Encrypts `bytes` (AES-CTR attachment), uploads the ciphertext as application/octet-stream and sends an
   * encrypted `m.image` carrying the key in `file`. Returns the event id, the `file` object and the content sent.
   */
  sendEncryptedImage(
    roomId: string,
    bytes: Uint8Array,
    mimetype: string,
    info: Record<string, unknown> = {},
    body = "image",
  ): Promise<{ eventId: string; file: EncryptedFile; content: Record<string, unknown> }> {
    return this.sendEncryptedMedia(roomId, "m.image", bytes, mimetype, info, body);
  }

  /** Like {@link sendEncryptedImage} for any media msgtype (`m.file`, `m.audio`, `m.video`). */
  async sendEncryptedMedia(
    roomId: string,
    msgtype: string,
    bytes: Uint8Array,
    mimetype: string,
    info: Record<string, unknown> = {},
    body = "file",
  ): Promise<{ eventId: string; file: EncryptedFile; content: Record<string, unknown> }> {
    const { ciphertext, keys } = encryptAttachment(bytes);
    const url = await this.upload(ciphertext, "application/octet-stream");
    const file: EncryptedFile = { url, ...keys };
    const content = { msgtype, body, file, info: { mimetype, size: bytes.length, ...info } };
    return { eventId: await this.sendEncrypted(roomId, "m.room.message", content), file, content };
  }

  /** Uploads bytes to the media repository; returns the mxc URI. */
  upload(bytes: Uint8Array, contentType: string, filename = "upload"): Promise<string> {
    return uploadMedia(this.baseUrl, this.accessToken, bytes, contentType, filename);
  }

  /** Downloads an mxc URI as stored (authenticated media API), without decrypting. */
  downloadRaw(mxc: string): Promise<Uint8Array> {
    return downloadMedia(this.baseUrl, this.accessToken, mxc);
  }

  /** Downloads and decrypts an encrypted attachment; throws when the key, iv or SHA-256 do not match. */
  async downloadDecrypted(file: EncryptedFile): Promise<Uint8Array> {
    return decryptAttachment(await this.downloadRaw(file.url), file);
  }

  // ---- the decrypted timeline --------------------------------------------------------------------------------

  /** The room's events as this client sees them (state and timeline, decrypted where possible), in order. */
  timeline(roomId: string): E2eeEvent[] {
    return this.decrypted.events(roomId);
  }

  /**
   * Resolves with the first event of the room (already seen or arriving later, or an undecryptable one decrypted
   * later) for which `predicate` holds over its decrypted form.
   */
  waitForEvent(roomId: string, predicate: (e: E2eeEvent) => boolean, timeoutMs = 15_000): Promise<E2eeEvent> {
    const errors = () => [this.lastSyncError, ...this.cryptoErrors.slice(-3)].filter(Boolean).join("; ");
    return this.decrypted.waitFor(
      roomId,
      predicate,
      timeoutMs,
      () => `${this.userId} (${errors() || "no errors"})`,
    );
  }

  private async decrypt(roomId: string, raw: RawEvent): Promise<E2eeEvent> {
    const base = {
      roomId,
      eventId: raw.event_id ?? "",
      sender: raw.sender,
      originServerTs: raw.origin_server_ts,
      encrypted: true,
      raw,
    };
    try {
      const event = JSON.stringify({ ...raw, room_id: roomId });
      const settings = new DecryptionSettings(TrustRequirement.Untrusted);
      const res = await this.machine.decryptRoomEvent(event, new RoomId(roomId), settings);
      const clear = JSON.parse(res.event) as { type?: unknown; content?: unknown };
      const content = isRecord(clear.content) ? clear.content : {};
      return { ...base, type: String(clear.type), content, senderDevice: res.senderDevice?.toString() };
    } catch (err) {
      return { ...base, type: raw.type, content: raw.content, utd: utdOf(err) };
    }
  }

  private async retryUndecrypted(rooms: Set<string>): Promise<void> {
    const run = this.retryChain.then(async () => {
      for (const roomId of rooms) {
        for (const stale of this.decrypted.events(roomId).filter((e) => e.utd)) {
          if (this.closed) return;
          const fresh = await this.decrypt(roomId, stale.raw);
          if (!fresh.utd) this.decrypted.replace(fresh);
        }
      }
    });
    this.retryChain = run.catch((err) => this.cryptoErrors.push(`retry: ${err}`));
    await run;
  }

  // ---- sync --------------------------------------------------------------------------------------------------

  protected override async handleSync(sync: SyncResponse): Promise<void> {
    if (this.closed) return;
    await this.step("sync changes", () => this.receiveCrypto(sync));
    const rooms = sync.rooms ?? {};
    for (const [roomId, room] of [
      ...Object.entries(rooms.join ?? {}),
      ...Object.entries(rooms.leave ?? {}),
    ]) {
      for (const raw of [...(room.state?.events ?? []), ...(room.timeline?.events ?? [])]) {
        if (raw.event_id !== undefined && this.decrypted.has(roomId, raw.event_id)) continue;
        this.noteState(roomId, raw);
        const entry =
          raw.type === "m.room.encrypted" && raw.state_key === undefined
            ? await this.decrypt(roomId, raw)
            : {
                roomId,
                eventId: raw.event_id ?? "",
                sender: raw.sender,
                type: raw.type,
                content: raw.content,
                stateKey: raw.state_key,
                originServerTs: raw.origin_server_ts,
                encrypted: false,
                raw,
              };
        this.decrypted.add(entry);
      }
    }
    await super.handleSync(sync);
    const toTrack = [...this.encryptedRooms]
      .flatMap((r) => this.roomMembers(r))
      .filter((u) => !this.tracked.has(u));
    if (toTrack.length > 0) await this.step("track members", () => this.track(toTrack));
    await this.step("outgoing requests", () => this.outgoing.flush());
    this.firstSync();
  }

  private async step(what: string, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      this.cryptoErrors.push(`${what}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  private noteState(roomId: string, raw: RawEvent): void {
    if (raw.state_key === undefined) return;
    if (raw.type === "m.room.encryption") this.encryptedRooms.add(roomId);
    if (raw.type === "m.room.member" && typeof raw.content.membership === "string") {
      const m = this.membership.get(roomId) ?? new Map<string, string>();
      m.set(raw.state_key, raw.content.membership);
      this.membership.set(roomId, m);
    }
  }

  private async receiveCrypto(sync: SyncResponse): Promise<void> {
    const lists = new DeviceLists(
      userIds(sync.device_lists?.changed ?? []),
      userIds(sync.device_lists?.left ?? []),
    );
    const counts = new Map(Object.entries(sync.device_one_time_keys_count ?? {}));
    const fallback = sync.device_unused_fallback_key_types;
    const processed = await this.machine.receiveSyncChanges(
      JSON.stringify(sync.to_device?.events ?? []),
      lists,
      counts,
      fallback ? new Set(fallback) : undefined,
    );
    for (const p of processed) {
      const ev = JSON.parse(p.rawEvent) as { type?: unknown; sender?: unknown; content?: unknown };
      this.toDevice.push({
        kind: TO_DEVICE_KIND[p.type] ?? "invalid",
        type: String(ev.type),
        sender: String(ev.sender),
        content: isRecord(ev.content) ? ev.content : {},
      });
    }
  }

  /** Tracks the users' devices and waits until their keys have been queried. */
  private async track(users: string[]): Promise<void> {
    await this.machine.updateTrackedUsers(userIds(users));
    for (const u of users) this.tracked.add(u);
    await this.outgoing.flush();
  }

  /** Stops syncing, waits for the loop and pending crypto work, then closes the OlmMachine. */
  override async stop(): Promise<void> {
    if (this.closed) return;
    super.stop();
    await this.syncEnded();
    await Promise.allSettled([this.sendChain, this.outgoing.idle(), this.retryChain]);
    this.closed = true;
    this.outgoing.close();
    this.machine.close();
  }
}

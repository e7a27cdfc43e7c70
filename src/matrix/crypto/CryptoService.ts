import { createHash, randomBytes } from "node:crypto";
import {
  Attachment,
  DecryptionSettings,
  DeviceId,
  DeviceLists,
  EncryptedAttachment,
  initAsync,
  MegolmDecryptionError,
  OlmMachine,
  RoomId,
  type RoomKeyInfo,
  StoreHandle,
  TrustRequirement,
  UserId,
} from "@matrix-org/matrix-sdk-crypto-wasm";
import type pg from "pg";
import { Logger } from "../../log/Logger";
import type { EncryptedFile, MatrixApi, RoomEvent, RoomEventContent } from "../MatrixApi";
import { Device, type DurableStore } from "./Device";
import { encryptionSettings, RoomDirectory, type RoomInfo } from "./RoomKeys";
import type { CryptoParts } from "./transaction";

const log = new Logger("Crypto");
const enc = encodeURIComponent;

/** The durable home of the machines' state (see CryptoStore). */
export interface CryptoStateStore extends DurableStore {
  load(storeName: string): Promise<void>;
}

const MEGOLM = "m.megolm.v1.aes-sha2";

/** A Megolm session id: unpadded base64 of a 32-byte key (43 characters); generous bounds. */
function isSessionId(v: unknown): v is string {
  return typeof v === "string" && /^[A-Za-z0-9+/=_-]{1,128}$/.test(v);
}

/** What became of an encrypted event. */
export type Decryption =
  | { kind: "clear"; event: RoomEvent }
  | { kind: "waiting"; sessionId: string; reason: string }
  | { kind: "failed"; reason: string };

export interface CryptoServiceOptions {
  api: MatrixApi;
  pool: pg.Pool;
  store: CryptoStateStore;
  /** Users whose devices decrypt, in order of preference (the bot, then the AI user). */
  readers: string[];
  /** Derives the key that encrypts the state at rest. */
  pickleKey: string;
  /** Display name of the devices the bridge makes. */
  deviceName: string;
  /** Room keys arrived for events waiting for them. */
  onKeys?(events: RoomEvent[]): void;
}

/** The to-device type of the bridge's own delivery probe (see toDeviceFlowing). */
const PROBE_TYPE = "org.clawbridge.probe";

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** How often, at least, key sharing is checked again in a room (rotation by time). */
const RESHARE_CHECK_MS = 60_000;

/** Events between two checks of key sharing: well before the room's rotation by count. */
function reshareEvery(room: RoomInfo): number {
  const msgs = room.encryption?.rotation_period_msgs;
  return typeof msgs === "number" && msgs > 1 ? Math.min(20, msgs - 1) : 20;
}

/** Below this many one-time keys a device is loaded to top them up. */
const OTK_LOW = 25;
const UNDECRYPTABLE_LATER = new Set([0, 1]); // MissingRoomKey, UnknownMessageIndex

let wasmReady: Promise<void> | undefined;

/**
 * End-to-end encryption for the bridge's users: one device each (made by the appservice,
 * MSC4190), fed by the to-device messages, device list changes and key counts of each
 * transaction (MSC2409, MSC3202), encrypting what they send to encrypted rooms and decrypting
 * what arrives there. The Rust crypto (as WebAssembly) does the cryptography; its state lives
 * in PostgreSQL and is flushed before anything that depends on it leaves the bridge.
 */
export class CryptoService {
  private readonly devices = new Map<string, Promise<Device>>();
  readonly rooms: RoomDirectory;
  private readonly storeKey: Uint8Array;
  /** The device of every user that has one (loaded or not). */
  private readonly deviceIds = new Map<string, string>();
  /** The key counts last fed to each loaded device (see receive). */
  private readonly fedCounts = new Map<string, string>();
  /** Bumped on every device list change: rooms re-check their key sharing (see prepare). */
  private epoch = 0;
  /** Nonces of the to-device probes this process sent (see toDeviceFlowing). */
  private readonly probes = new Set<string>();
  private probeArrived?: () => void;
  /** Per sender and room: when its room key was last shared, and events sent since. */
  private readonly shared = new Map<string, { epoch: number; version: number; sent: number; at: number }>();

  constructor(private readonly opts: CryptoServiceOptions) {
    this.rooms = new RoomDirectory(opts.api);
    this.storeKey = createHash("sha256").update(`clawbridge crypto store\0${opts.pickleKey}`).digest();
  }

  async start(): Promise<void> {
    wasmReady ??= initAsync();
    await wasmReady;
    const rows = await this.opts.pool.query<{ user_id: string; device_id: string }>(
      "SELECT user_id, device_id FROM crypto_device",
    );
    for (const r of rows.rows) this.deviceIds.set(r.user_id, r.device_id);
    await Promise.all(this.opts.readers.map((u) => this.device(u)));
  }

  /** The device of `userId`, made on first use. */
  device(userId: string): Promise<Device> {
    let p = this.devices.get(userId);
    if (!p) {
      p = this.open(userId);
      this.devices.set(userId, p);
      p.catch(() => this.devices.delete(userId));
    }
    return p;
  }

  private async open(userId: string): Promise<Device> {
    // A send or a transaction may need a device before start() is through.
    wasmReady ??= initAsync();
    await wasmReady;
    const { api, pool, store } = this.opts;
    const row = await pool.query<{ device_id: string; cross_signed: boolean }>(
      "SELECT device_id, cross_signed FROM crypto_device WHERE user_id = $1",
      [userId],
    );
    let deviceId = row.rows[0]?.device_id;
    const fresh = !deviceId;
    if (!deviceId) {
      deviceId = `CB${randomBytes(6).toString("hex").toUpperCase()}`;
      // Appservice device management (MSC4190): the device exists without a login.
      await api.request("PUT", `/_matrix/client/v3/devices/${enc(deviceId)}`, {
        userId,
        body: { display_name: this.opts.deviceName },
      });
    }
    const storeName = `clawbridge|${userId}|${deviceId}`;
    await store.load(storeName);
    const handle = await StoreHandle.openWithKey(storeName, this.storeKey);
    const machine = await OlmMachine.initFromStore(new UserId(userId), new DeviceId(deviceId), handle);
    handle.free();
    await store.flush();
    if (fresh) {
      await pool.query(
        "INSERT INTO crypto_device (user_id, device_id) VALUES ($1, $2) ON CONFLICT (user_id) DO UPDATE SET device_id = $2",
        [userId, deviceId],
      );
    }
    this.deviceIds.set(userId, deviceId);
    const device = new Device(userId, deviceId, machine, api, store);
    // Only the readers decrypt: keys that reach ghosts' devices wake nothing.
    if (this.opts.readers.includes(userId))
      machine.registerRoomKeyUpdatedCallback(async (infos) => this.keysArrived(infos));
    // Its identity and one-time keys reach the homeserver before it is used.
    await device.sendOutgoing();
    if (!fresh) {
      // Device lists may have changed while the bridge was stopped.
      await machine.markAllTrackedUsersAsDirty();
      void device.sendOutgoing();
    }
    if (!row.rows[0]?.cross_signed) await this.crossSign(device);
    log.info(fresh ? "device made" : "device loaded", { user: userId, device: deviceId });
    return device;
  }

  /**
   * Gives the user a cross-signing identity that signs its device, so clients show the device
   * as verified by its owner. An appservice may upload (and replace) these keys without
   * interactive auth; a failure is logged and tried again at the next start.
   */
  private async crossSign(device: Device): Promise<void> {
    const { api, pool, store } = this.opts;
    const as = { userId: device.userId, query: { device_id: device.deviceId } };
    try {
      const req = await device.machine.bootstrapCrossSigning(true);
      await store.flush();
      await api.request("POST", "/_matrix/client/v3/keys/device_signing/upload", {
        ...as,
        body: JSON.parse(req.uploadSigningKeysRequest.body),
      });
      await api.request("POST", "/_matrix/client/v3/keys/signatures/upload", {
        ...as,
        body: JSON.parse(req.uploadSignaturesRequest.body),
      });
      await pool.query("UPDATE crypto_device SET cross_signed = true WHERE user_id = $1", [device.userId]);
    } catch (err) {
      log.warn("cross-signing not set up; tried again at the next start", {
        user: device.userId,
        err: String(err),
      });
    }
  }

  /** Loaded devices only (a user that never needed one has none to feed). */
  private async loaded(): Promise<Device[]> {
    const settled = await Promise.allSettled(this.devices.values());
    return settled.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
  }

  /**
   * Feeds a transaction's encryption parts to the devices they are for; resolves once what they
   * changed is in the database (so the transaction may be acknowledged).
   */
  async receive(parts: CryptoParts): Promise<void> {
    for (const m of parts.toDevice)
      if (m.type === PROBE_TYPE && typeof m.content.nonce === "string" && this.probes.has(m.content.nonce))
        this.probeArrived?.();
    const lists = parts.changed.length > 0 || parts.left.length > 0;
    if (lists) this.epoch++;
    // Synapse names the key counts of every appservice user in the rooms of a transaction's
    // events, unchanged or not; feeding a machine costs milliseconds (it reloads its account),
    // so a device is fed only what is new to it, and loaded only for to-device messages or
    // one-time keys running low.
    const users = new Set<string>([
      ...parts.toDevice.map((m) => m.to_user_id),
      ...parts.keyCounts.keys(),
      ...parts.fallbackTypes.keys(),
    ]);
    const feeds = new Map<string, Device>();
    if (lists) for (const d of await this.loaded()) feeds.set(d.userId, d);
    await Promise.all(
      [...users].map(async (u) => {
        const deviceId = this.deviceIds.get(u);
        if (!deviceId) return; // not a device of ours: nothing to keep
        const hasMessages = parts.toDevice.some((m) => m.to_user_id === u && m.to_device_id === deviceId);
        const counts = this.countsKey(parts, u, deviceId);
        const changed = counts !== undefined && counts !== this.fedCounts.get(u);
        const low = (parts.keyCounts.get(u)?.get(deviceId)?.get("signed_curve25519") ?? OTK_LOW) < OTK_LOW;
        if (!hasMessages && !(changed && (this.devices.has(u) || low))) return;
        try {
          feeds.set(u, await this.device(u));
        } catch (err) {
          log.warn("device could not be loaded; its messages are lost", { user: u, err: String(err) });
        }
      }),
    );
    await Promise.all(
      [...feeds.values()].map(async (d) => {
        const toDevice = parts.toDevice.filter(
          (m) => m.to_user_id === d.userId && m.to_device_id === d.deviceId,
        );
        const counts = new Map<string, number>(parts.keyCounts.get(d.userId)?.get(d.deviceId) ?? []);
        const fallback = parts.fallbackTypes.get(d.userId)?.get(d.deviceId);
        try {
          await d.machine.receiveSyncChanges(
            JSON.stringify(toDevice),
            new DeviceLists(
              parts.changed.map((u) => new UserId(u)),
              parts.left.map((u) => new UserId(u)),
            ),
            counts,
            fallback ? new Set(fallback) : undefined,
            new DecryptionSettings(TrustRequirement.Untrusted),
          );
          const key = this.countsKey(parts, d.userId, d.deviceId);
          if (key !== undefined) this.fedCounts.set(d.userId, key);
        } catch (err) {
          log.warn("encryption data of a transaction not taken", { user: d.userId, err: String(err) });
        }
      }),
    );
    if (!feeds.size) return;
    await this.opts.store.flush();
    for (const d of feeds.values()) void d.sendOutgoing();
  }

  /** The key counts and fallback key types a transaction gives for one device, as one string. */
  private countsKey(parts: CryptoParts, userId: string, deviceId: string): string | undefined {
    const counts = parts.keyCounts.get(userId)?.get(deviceId);
    const fallback = parts.fallbackTypes.get(userId)?.get(deviceId);
    if (!counts && !fallback) return undefined;
    return JSON.stringify([[...(counts ?? [])].sort(), [...(fallback ?? [])].sort()]);
  }

  /**
   * Whether the homeserver delivers to-device messages to the bridge: the bot's device sends
   * itself one (again every second) until it comes back in a transaction. A homeserver that
   * counts the appservice as down (it could not reach the bridge while it was stopped) drops
   * to-device messages, room keys among them, until it has sent what it held back; the bridge
   * says it is ready only after that, or after `timeoutMs`.
   */
  async toDeviceFlowing(userId: string, timeoutMs: number): Promise<boolean> {
    const device = await this.device(userId);
    const arrived = new Promise<void>((resolve) => {
      this.probeArrived = resolve;
    });
    const deadline = Date.now() + timeoutMs;
    try {
      while (Date.now() < deadline) {
        const nonce = randomBytes(9).toString("base64url");
        this.probes.add(nonce);
        await this.opts.api
          .request("PUT", `/_matrix/client/v3/sendToDevice/${PROBE_TYPE}/${nonce}`, {
            userId,
            query: { device_id: device.deviceId },
            body: { messages: { [userId]: { [device.deviceId]: { nonce } } } },
          })
          .catch((err: unknown) => log.debug("to-device probe not sent", { err: String(err) }));
        const wait = Math.min(1_000, deadline - Date.now());
        const got = await Promise.race([arrived.then(() => true), sleep(wait).then(() => false)]);
        if (got) return true;
      }
      return false;
    } finally {
      this.probeArrived = undefined;
      this.probes.clear();
    }
  }

  /** Keeps the room directory current; true when the event turned encryption on in a room. */
  observe(ev: RoomEvent): Promise<boolean> {
    return this.rooms.observe(ev);
  }

  async isEncrypted(roomId: string, asUser: string): Promise<boolean> {
    return (await this.rooms.info(roomId, asUser)).encryption !== undefined;
  }

  /**
   * What `userId` sends to `roomId`: encrypted when the room is. The room key is shared first
   * with every device of every member that does not have it yet.
   */
  async prepare(
    userId: string,
    roomId: string,
    type: string,
    content: RoomEventContent,
  ): Promise<{ type: string; content: RoomEventContent }> {
    const room = await this.rooms.info(roomId, userId);
    if (!room.encryption) return { type, content };
    const device = await this.device(userId);
    const { machine } = device;
    return device.inRoom(roomId, async () => {
      const key = `${userId}|${roomId}`;
      const last = this.shared.get(key);
      const fresh =
        last !== undefined &&
        last.epoch === this.epoch &&
        last.version === room.version &&
        last.sent < reshareEvery(room) &&
        Date.now() - last.at < RESHARE_CHECK_MS;
      // Nothing changed since the room key was last shared (members, their devices, the room's
      // settings) and the session is far from its rotation: encrypt at once. Otherwise share
      // first (the crypto rotates the session when the settings or the members ask for it).
      if (!fresh) {
        await this.shareKey(device, roomId, room);
        this.shared.set(key, { epoch: this.epoch, version: room.version, sent: 0, at: Date.now() });
      }
      const encrypted = await machine.encryptRoomEvent(new RoomId(roomId), type, JSON.stringify(content));
      await this.opts.store.flush(); // the Megolm index this event used
      const entry = this.shared.get(key);
      if (entry) entry.sent++;
      return { type: "m.room.encrypted", content: JSON.parse(encrypted) as RoomEventContent };
    });
  }

  /** Shares the room key of `device` with every device of the room's members that lacks it. */
  private async shareKey(device: Device, roomId: string, room: RoomInfo): Promise<void> {
    const { machine } = device;
    const members = [...(await this.rooms.members(roomId, device.userId))].map((u) => new UserId(u));
    await machine.updateTrackedUsers(members.map((u) => u.clone()));
    await device.sendOutgoing(); // key queries for new members
    const claim = await machine.getMissingSessions(members.map((u) => u.clone()));
    if (claim) {
      const res = await device.send(claim);
      if (res !== undefined) await machine.markRequestAsSent(claim.id, claim.type, res);
    }
    const shares = await machine.shareRoomKey(
      new RoomId(roomId),
      members.map((u) => u.clone()),
      encryptionSettings(room),
    );
    if (!shares.length) return;
    await this.opts.store.flush(); // the Olm ratchets used for these messages
    for (const r of shares) {
      const res = await device.send(r);
      if (res !== undefined) await machine.markRequestAsSent(r.id, r.type, res);
    }
  }

  /**
   * Decrypts with the first reader device that has the room key; `reader` first when given
   * (the user whose view this is: the AI user reading its history).
   */
  async decrypt(ev: RoomEvent, reader?: string): Promise<Decryption> {
    const { algorithm, ciphertext, session_id: sessionId } = ev.content;
    if (algorithm !== MEGOLM || typeof ciphertext !== "string" || !isSessionId(sessionId))
      return { kind: "failed", reason: "it is not a well-formed Megolm message" };
    let waiting = false;
    const reasons: string[] = [];
    const readers = reader ? [reader, ...this.opts.readers.filter((r) => r !== reader)] : this.opts.readers;
    for (const userId of readers) {
      const device = await this.device(userId).catch(() => undefined);
      if (!device) continue;
      try {
        const res = await device.machine.decryptRoomEvent(
          JSON.stringify(ev),
          new RoomId(ev.room_id),
          new DecryptionSettings(TrustRequirement.Untrusted),
        );
        const clear = JSON.parse(res.event) as { type?: unknown; content?: unknown };
        if (typeof clear.type !== "string" || typeof clear.content !== "object" || clear.content === null)
          return { kind: "failed", reason: "the decrypted event is malformed" };
        const content = { ...(clear.content as RoomEventContent) };
        // Relations stay in the clear (reactions, edits, threads are aggregated by the server).
        if (content["m.relates_to"] === undefined && ev.content["m.relates_to"] !== undefined)
          content["m.relates_to"] = ev.content["m.relates_to"];
        return { kind: "clear", event: { ...ev, type: clear.type, content } };
      } catch (err) {
        if (err instanceof MegolmDecryptionError) {
          reasons.push(`${userId}: ${err.description}`);
          if (UNDECRYPTABLE_LATER.has(err.code)) waiting = true;
        } else {
          reasons.push(`${userId}: ${String(err)}`);
        }
      }
    }
    const reason = reasons.join("; ") || "the bridge has no device to decrypt with";
    return waiting ? { kind: "waiting", sessionId, reason } : { kind: "failed", reason };
  }

  /** Decrypts what `reader` can of `events` (its history); the rest is left out. */
  async decryptAll(events: RoomEvent[], reader: string): Promise<RoomEvent[]> {
    const out: RoomEvent[] = [];
    for (const e of events) {
      if (e.type !== "m.room.encrypted") {
        out.push(e);
        continue;
      }
      const d = await this.decrypt(e, reader);
      if (d.kind === "clear") out.push(d.event);
    }
    return out;
  }

  private keysArrived(infos: RoomKeyInfo[]): Promise<void> {
    return this.waitingFor(infos.map((i) => i.sessionId));
  }

  /** Hands events that waited for these sessions' keys back to the bridge. */
  private async waitingFor(sessions: string[]): Promise<void> {
    if (!sessions.length || !this.opts.onKeys) return;
    const res = await this.opts.pool.query<{ event: RoomEvent }>(
      "SELECT event FROM crypto_waiting WHERE session_id = ANY($1) ORDER BY first_seen",
      [sessions],
    );
    if (res.rows.length) this.opts.onKeys(res.rows.map((r) => r.event));
  }

  /** Encrypts a file for an encrypted room: the ciphertext to upload and its `file` (without url). */
  encryptAttachment(data: Buffer): { data: Buffer; file: Omit<EncryptedFile, "url"> } {
    const a = Attachment.encrypt(new Uint8Array(data));
    const file = JSON.parse(a.mediaEncryptionInfo ?? "{}") as Record<string, unknown>;
    const out = Buffer.from(a.encryptedData);
    a.free();
    return { data: out, file };
  }

  decryptAttachment(data: Buffer, file: EncryptedFile): Buffer {
    return Buffer.from(
      Attachment.decrypt(new EncryptedAttachment(new Uint8Array(data), JSON.stringify(file))),
    );
  }

  async stop(): Promise<void> {
    await this.opts.store.flush().catch(() => undefined);
    for (const d of await this.loaded()) d.machine.close();
    this.devices.clear();
  }
}

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
import type { MatrixApi, RoomEvent, RoomEventContent } from "../MatrixApi";
import { Device, type DurableStore } from "./Device";
import { encryptionSettings, RoomDirectory } from "./RoomKeys";
import type { CryptoParts } from "./transaction";

const log = new Logger("Crypto");
const enc = encodeURIComponent;

/** The durable home of the machines' state (see CryptoStore). */
export interface CryptoStateStore extends DurableStore {
  load(storeName: string): Promise<void>;
}

/** Where an encrypted file lives and how to decrypt it (the `file` of a media event). */
export interface EncryptedFile {
  url: string;
  [key: string]: unknown;
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

  constructor(private readonly opts: CryptoServiceOptions) {
    this.rooms = new RoomDirectory(opts.api);
    this.storeKey = createHash("sha256").update(`clawbridge crypto store\0${opts.pickleKey}`).digest();
  }

  async start(): Promise<void> {
    wasmReady ??= initAsync();
    await wasmReady;
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
    const users = new Set<string>([
      ...parts.toDevice.map((m) => m.to_user_id),
      ...parts.keyCounts.keys(),
      ...parts.fallbackTypes.keys(),
    ]);
    // With the database away, the devices already loaded still take what is theirs.
    const known = await this.knownDevices([...users]).catch(() => new Set(this.devices.keys()));
    const lists = parts.changed.length || parts.left.length;
    const targets = new Map<string, Device>();
    for (const d of await this.loaded()) if (lists) targets.set(d.userId, d);
    await Promise.all(
      [...users].map(async (u) => {
        if (!known.has(u)) return; // not a device of ours (yet): nothing to keep
        try {
          targets.set(u, await this.device(u));
        } catch (err) {
          log.warn("device could not be loaded; its messages are lost", { user: u, err: String(err) });
        }
      }),
    );
    await Promise.all(
      [...targets.values()].map(async (d) => {
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
        } catch (err) {
          log.warn("encryption data of a transaction not taken", { user: d.userId, err: String(err) });
        }
      }),
    );
    await this.opts.store.flush();
    for (const d of targets.values()) void d.sendOutgoing();
  }

  private async knownDevices(users: string[]): Promise<Set<string>> {
    if (!users.length) return new Set();
    const res = await this.opts.pool.query<{ user_id: string }>(
      "SELECT user_id FROM crypto_device WHERE user_id = ANY($1)",
      [users],
    );
    const known = new Set(res.rows.map((r) => r.user_id));
    for (const u of users) if (this.devices.has(u)) known.add(u);
    return known;
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
      const members = [...(await this.rooms.members(roomId, userId))].map((u) => new UserId(u));
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
      if (shares.length) {
        await this.opts.store.flush(); // the Olm ratchets used for these messages
        for (const r of shares) {
          const res = await device.send(r);
          if (res !== undefined) await machine.markRequestAsSent(r.id, r.type, res);
        }
      }
      const encrypted = await machine.encryptRoomEvent(new RoomId(roomId), type, JSON.stringify(content));
      await this.opts.store.flush(); // the Megolm index this event used
      return { type: "m.room.encrypted", content: JSON.parse(encrypted) as RoomEventContent };
    });
  }

  /** Decrypts with the first reader device that has the room key. */
  async decrypt(ev: RoomEvent): Promise<Decryption> {
    const sessionId = typeof ev.content.session_id === "string" ? ev.content.session_id : "";
    let waiting = false;
    const reasons: string[] = [];
    for (const userId of this.opts.readers) {
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
        return {
          kind: "clear",
          event: {
            ...ev,
            type: clear.type,
            content,
            unsigned: { ...(ev.unsigned ?? {}), [ENCRYPTED_MARKER]: true },
          },
        };
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
    return waiting && sessionId ? { kind: "waiting", sessionId, reason } : { kind: "failed", reason };
  }

  /** Decrypts what can be decrypted of `events` (history); the rest is left out. */
  async decryptAll(events: RoomEvent[]): Promise<RoomEvent[]> {
    const out: RoomEvent[] = [];
    for (const e of events) {
      if (e.type !== "m.room.encrypted") {
        out.push(e);
        continue;
      }
      const d = await this.decrypt(e);
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

/** Set in `unsigned` of an event the bridge decrypted. */
export const ENCRYPTED_MARKER = "com.clawbridge.decrypted";

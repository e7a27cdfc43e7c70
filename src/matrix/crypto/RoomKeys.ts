import {
  CollectStrategy,
  EncryptionAlgorithm,
  EncryptionSettings,
  HistoryVisibility,
} from "@matrix-org/matrix-sdk-crypto-wasm";
import { type MatrixApi, MatrixError, type RoomEvent } from "../MatrixApi";

const enc = encodeURIComponent;

/** What the bridge knows of a room for encrypting in it. */
export interface RoomInfo {
  /** The room's `m.room.encryption` content; undefined: not encrypted. */
  encryption?: Record<string, unknown>;
  historyVisibility: string;
  /** Joined and invited users (who get the room key); filled on first need. */
  members?: Set<string>;
  /** Bumped on every change of the above: senders share the room key again. */
  version: number;
}

const VISIBILITY: Record<string, HistoryVisibility> = {
  invited: HistoryVisibility.Invited,
  joined: HistoryVisibility.Joined,
  shared: HistoryVisibility.Shared,
  world_readable: HistoryVisibility.WorldReadable,
};

/** The Megolm settings a room asks for (rotation by time and count, history visibility). */
export function encryptionSettings(room: RoomInfo): EncryptionSettings {
  const s = new EncryptionSettings();
  s.algorithm = EncryptionAlgorithm.MegolmV1AesSha2;
  const ms = room.encryption?.rotation_period_ms;
  const msgs = room.encryption?.rotation_period_msgs;
  if (typeof ms === "number" && Number.isSafeInteger(ms) && ms > 0) s.rotationPeriod = BigInt(ms) * 1000n;
  if (typeof msgs === "number" && Number.isSafeInteger(msgs) && msgs > 0)
    s.rotationPeriodMessages = BigInt(msgs);
  s.historyVisibility = VISIBILITY[room.historyVisibility] ?? HistoryVisibility.Shared;
  // The bridge verifies nobody: every device of every member gets the key, as clients do by default.
  s.sharingStrategy = CollectStrategy.allDevices();
  return s;
}

/**
 * Encryption state and members of the rooms the bridge's users are in: read once from the
 * homeserver, then kept current from the state events each transaction carries.
 */
export class RoomDirectory {
  private readonly rooms = new Map<string, Promise<RoomInfo>>();

  constructor(private readonly api: MatrixApi) {}

  /** The room as `asUser` (a member) sees it. */
  info(roomId: string, asUser: string): Promise<RoomInfo> {
    let p = this.rooms.get(roomId);
    if (!p) {
      p = this.read(roomId, asUser);
      this.rooms.set(roomId, p);
      p.catch(() => this.rooms.delete(roomId));
    }
    return p;
  }

  /** Whether the room is encrypted, as far as it is known without asking the homeserver. */
  async known(roomId: string): Promise<RoomInfo | undefined> {
    return this.rooms.get(roomId)?.catch(() => undefined);
  }

  async members(roomId: string, asUser: string): Promise<Set<string>> {
    const room = await this.info(roomId, asUser);
    if (!room.members) {
      const res = await this.api.request<{ chunk?: RoomEvent[] }>(
        "GET",
        `/_matrix/client/v3/rooms/${enc(roomId)}/members`,
        { userId: asUser, query: { not_membership: "leave" } },
      );
      const members = new Set<string>();
      for (const m of res.chunk ?? []) {
        const membership = (m.content as { membership?: unknown }).membership;
        if (m.state_key && (membership === "join" || membership === "invite")) members.add(m.state_key);
      }
      room.members ??= members;
    }
    return room.members;
  }

  /** Keeps known rooms current from a state event; returns true when it turned encryption on. */
  async observe(ev: RoomEvent): Promise<boolean> {
    if (ev.state_key === undefined) return false;
    const known = this.rooms.get(ev.room_id);
    if (ev.type === "m.room.encryption") {
      const room = known ? await known.catch(() => undefined) : undefined;
      const wasOn = room?.encryption !== undefined;
      // A room not read yet is read when first needed, with its encryption state.
      if (room) {
        room.encryption = ev.content;
        room.version++;
      }
      return !wasOn;
    }
    const room = known && (await known.catch(() => undefined));
    if (!room) return false;
    if (ev.type === "m.room.history_visibility") {
      const v = (ev.content as { history_visibility?: unknown }).history_visibility;
      if (typeof v === "string") room.historyVisibility = v;
      room.version++;
    }
    if (ev.type === "m.room.member" && room.members) {
      const membership = (ev.content as { membership?: unknown }).membership;
      if (membership === "join" || membership === "invite") room.members.add(ev.state_key);
      else room.members.delete(ev.state_key);
      room.version++;
    }
    return false;
  }

  private async read(roomId: string, asUser: string): Promise<RoomInfo> {
    const state = async (type: string) => {
      try {
        return await this.api.request<Record<string, unknown>>(
          "GET",
          `/_matrix/client/v3/rooms/${enc(roomId)}/state/${enc(type)}/`,
          { userId: asUser },
        );
      } catch (err) {
        if (err instanceof MatrixError && err.status === 404) return undefined;
        throw err;
      }
    };
    const [encryption, visibility] = await Promise.all([
      state("m.room.encryption"),
      state("m.room.history_visibility"),
    ]);
    const v = visibility?.history_visibility;
    return { encryption, historyVisibility: typeof v === "string" ? v : "shared", version: 0 };
  }
}

import type { Intent } from "../matrix/MatrixApi";

/** Power level a user needs in a room to link or unlink it. */
export const ROOM_ADMIN_LEVEL = 100;

/**
 * Room versions in which the creators have unlimited power and are not listed in
 * `m.room.power_levels` (MSC4289): version 12 and later, and the unstable hydra version.
 */
export function creatorsArePrivileged(roomVersion: string): boolean {
  if (/^\d+$/.test(roomVersion)) return Number(roomVersion) >= 12;
  return roomVersion === "org.matrix.hydra.11";
}

interface CreateContent {
  room_version?: unknown;
  creator?: unknown;
  additional_creators?: unknown;
}

interface PowerLevels {
  users?: Record<string, unknown>;
  users_default?: unknown;
}

/**
 * A user's power level in a room as the room version defines it: `Infinity` for a creator of
 * a room where creators are privileged (v12: the create event's sender and its
 * `additional_creators`); else the `m.room.power_levels` entry, or (when the room has no
 * power levels yet) 100 for the creator and 0 for everyone else.
 */
export async function roomPowerOf(reader: Intent, roomId: string, mxid: string): Promise<number> {
  const create = await reader.getStateEvent(roomId, "m.room.create");
  const content = (create?.content ?? {}) as CreateContent;
  const version = typeof content.room_version === "string" ? content.room_version : "1";
  const creators = new Set<string>();
  if (create?.sender) creators.add(create.sender);
  if (creatorsArePrivileged(version)) {
    if (Array.isArray(content.additional_creators))
      for (const c of content.additional_creators) if (typeof c === "string") creators.add(c);
    if (creators.has(mxid)) return Number.POSITIVE_INFINITY;
  } else if (typeof content.creator === "string") {
    // Before v11 the creator is named in the content (and is the sender).
    creators.add(content.creator);
  }
  const pl = await reader.getState<PowerLevels>(roomId, "m.room.power_levels");
  if (!pl) return creators.has(mxid) ? ROOM_ADMIN_LEVEL : 0;
  const level = pl.users?.[mxid] ?? pl.users_default ?? 0;
  return typeof level === "number" && Number.isFinite(level) ? level : 0;
}

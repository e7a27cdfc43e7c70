import type { MatrixApi, RoomEvent } from "../matrix/MatrixApi";

const enc = encodeURIComponent;
const LAZY_MEMBERS = JSON.stringify({ lazy_load_members: true });

/** Recent events of a room or thread, oldest first, and the display names of their senders. */
export interface History {
  events: RoomEvent[];
  names: Map<string, string>;
}

interface Chunk {
  chunk?: RoomEvent[];
  state?: RoomEvent[];
}

/** Reads context from the homeserver as the AI user: the room's `/messages` or a thread's `/relations`. */
export class HistoryReader {
  constructor(
    private readonly api: MatrixApi,
    private readonly aiUserId: string,
  ) {}

  async read(roomId: string, limit: number, threadRootId?: string): Promise<History> {
    const names = new Map<string, string>();
    let events: RoomEvent[];
    if (threadRootId) {
      const [root, rel] = await Promise.all([
        this.api.request<RoomEvent>(
          "GET",
          `/_matrix/client/v3/rooms/${enc(roomId)}/event/${enc(threadRootId)}`,
          {
            userId: this.aiUserId,
          },
        ),
        this.api.request<Chunk>(
          "GET",
          `/_matrix/client/v1/rooms/${enc(roomId)}/relations/${enc(threadRootId)}/m.thread`,
          { userId: this.aiUserId, query: { dir: "b", limit: Math.max(1, limit - 1) } },
        ),
      ]);
      events = [root, ...(rel.chunk ?? []).reverse()];
    } else {
      const res = await this.api.request<Chunk>("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/messages`, {
        userId: this.aiUserId,
        query: { dir: "b", limit, filter: LAZY_MEMBERS },
      });
      events = (res.chunk ?? []).reverse();
      for (const m of res.state ?? []) this.addName(names, m);
    }
    if (this.api.crypto) events = await this.api.crypto.decryptAll(events, this.aiUserId);
    for (const e of events) if (e.type === "m.room.member") this.addName(names, e);
    const joined = await this.api
      .request<{ joined?: Record<string, { display_name?: string }> }>(
        "GET",
        `/_matrix/client/v3/rooms/${enc(roomId)}/joined_members`,
        { userId: this.aiUserId },
      )
      .catch(() => ({ joined: {} }) as { joined?: Record<string, { display_name?: string }> });
    for (const [id, m] of Object.entries(joined.joined ?? {}))
      if (m.display_name) names.set(id, m.display_name);
    return { events: events.map((e) => ({ ...e, room_id: e.room_id ?? roomId })), names };
  }

  private addName(names: Map<string, string>, e: RoomEvent): void {
    const name = (e.content as { displayname?: unknown }).displayname;
    if (e.type === "m.room.member" && e.state_key && typeof name === "string" && name)
      names.set(e.state_key, name);
  }
}

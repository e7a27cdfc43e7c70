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
    await this.addJoinedNames(roomId, names);
    return { events: events.map((e) => ({ ...e, room_id: e.room_id ?? roomId })), names };
  }

  /**
   * The room's events since `sinceTs` (at most `max`, the newest), oldest first: paged back
   * through `/messages` until an older event. For a summary of a span.
   */
  async readSince(roomId: string, sinceTs: number, max: number): Promise<History> {
    const names = new Map<string, string>();
    const newestFirst: RoomEvent[] = [];
    let from: string | undefined;
    while (newestFirst.length < max) {
      const res = await this.api.request<Chunk & { end?: string }>(
        "GET",
        `/_matrix/client/v3/rooms/${enc(roomId)}/messages`,
        {
          userId: this.aiUserId,
          query: { dir: "b", limit: Math.min(100, max - newestFirst.length), filter: LAZY_MEMBERS, from },
        },
      );
      for (const m of res.state ?? []) this.addName(names, m);
      const chunk = res.chunk ?? [];
      const inSpan = chunk.filter((e) => e.origin_server_ts >= sinceTs);
      newestFirst.push(...inSpan);
      if (inSpan.length < chunk.length || !chunk.length || !res.end || res.end === from) break;
      from = res.end;
    }
    let events = newestFirst.reverse();
    if (this.api.crypto) events = await this.api.crypto.decryptAll(events, this.aiUserId);
    for (const e of events) if (e.type === "m.room.member") this.addName(names, e);
    await this.addJoinedNames(roomId, names);
    return { events: events.map((e) => ({ ...e, room_id: e.room_id ?? roomId })), names };
  }

  private async addJoinedNames(roomId: string, names: Map<string, string>): Promise<void> {
    const joined = await this.api
      .request<{ joined?: Record<string, { display_name?: string }> }>(
        "GET",
        `/_matrix/client/v3/rooms/${enc(roomId)}/joined_members`,
        { userId: this.aiUserId },
      )
      .catch(() => ({ joined: {} }) as { joined?: Record<string, { display_name?: string }> });
    for (const [id, m] of Object.entries(joined.joined ?? {}))
      if (m.display_name) names.set(id, m.display_name);
  }

  private addName(names: Map<string, string>, e: RoomEvent): void {
    const name = (e.content as { displayname?: unknown }).displayname;
    if (e.type === "m.room.member" && e.state_key && typeof name === "string" && name)
      names.set(e.state_key, name);
  }
}

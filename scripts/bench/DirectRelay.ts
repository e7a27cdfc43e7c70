/**
 * The throughput baseline fed the way the bridge is fed: a Telegram stand-in of its own, whose
 * users' messages this relay takes with long-polling `getUpdates` and sends into plain Matrix
 * rooms as alice with the client-server API, one at a time per room in order and rooms side by
 * side (the bridge's per-portal lanes). Only the bridge's own work is missing: no database, no
 * ghosts, no conversion. It runs in the benchmark's process, like the stand-ins and the watcher.
 */
import type { TelegramServer } from "../../spec/standins/telegram/TelegramServer";
import type { RegisteredUser } from "../lib/synapse";
import { sendText } from "./rig";

interface TgUpdate {
  update_id: number;
  message?: { chat: { id: number }; text?: string };
}

export class DirectRelay {
  private offset = 0;
  private readonly abort = new AbortController();
  private readonly lanes = new Map<number, Promise<void>>();
  private readonly loop: Promise<void>;
  /** Sends the homeserver refused or that failed on the way (each is also a lost message). */
  failures = 0;

  constructor(
    private readonly tg: TelegramServer,
    private readonly hs: string,
    private readonly user: RegisteredUser,
    /** Matrix room of each Telegram chat id. */
    private readonly rooms: Map<number, string>,
  ) {
    this.loop = this.poll();
  }

  private async poll(): Promise<void> {
    const url = `${this.tg.url}/bot${this.tg.token}/getUpdates`;
    while (!this.abort.signal.aborted) {
      let updates: TgUpdate[];
      try {
        const res = await fetch(url, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ offset: this.offset, timeout: 30 }),
          signal: this.abort.signal,
        });
        updates = ((await res.json()) as { result: TgUpdate[] }).result;
      } catch {
        if (this.abort.signal.aborted) return;
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      for (const u of updates) {
        this.offset = u.update_id + 1;
        const chat = u.message?.chat.id;
        const room = chat === undefined ? undefined : this.rooms.get(chat);
        if (room === undefined) continue;
        const body = u.message!.text ?? "";
        const prev = this.lanes.get(chat!) ?? Promise.resolve();
        const next = prev.then(() =>
          sendText(this.hs, this.user, room, body).then(
            () => undefined,
            () => {
              this.failures++;
            },
          ),
        );
        this.lanes.set(chat!, next);
      }
    }
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
    await Promise.all(this.lanes.values());
  }
}

/**
 * The baseline for Matrix → platform: a minimal appservice of its own (own registration, own
 * tokens) that only notes when a homeserver transaction carrying a benchmark marker arrives and
 * answers 200 at once. Its user joins the rooms under test, so the homeserver pushes the same
 * events to it as to the bridge; the difference is what the bridge adds.
 */
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { dump } from "js-yaml";
import { MARKER } from "./SyncWatcher";

export class ProbeAppservice {
  /** `<tag>:<seq>` → Date.now() when its transaction arrived. */
  readonly arrived = new Map<string, number>();
  /**
   * Event id → Date.now() when its transaction arrived, for every event: encrypted events
   * carry no readable marker.
   */
  readonly arrivedById = new Map<string, number>();
  readonly asToken = randomBytes(24).toString("hex");
  readonly hsToken = randomBytes(24).toString("hex");
  readonly localpart = "benchprobe";
  transactions = 0;
  private readonly waiters = new Map<string, () => void>();
  private readonly idWaiters = new Map<string, () => void>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(port: number): Promise<ProbeAppservice> {
    let self: ProbeAppservice | undefined;
    const server = createServer((req, res) => {
      const at = Date.now();
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const url = req.url ?? "";
        if (req.method === "PUT" && url.includes("/transactions/")) {
          if (!(req.headers.authorization ?? "").endsWith(self!.hsToken)) {
            res.writeHead(403).end("{}");
            return;
          }
          self!.transactions++;
          try {
            const txn = JSON.parse(Buffer.concat(chunks).toString("utf8")) as {
              events?: Array<{ event_id?: unknown; content?: { body?: unknown } }>;
            };
            for (const e of txn.events ?? []) {
              if (typeof e.event_id === "string" && !self!.arrivedById.has(e.event_id)) {
                self!.arrivedById.set(e.event_id, at);
                self!.idWaiters.get(e.event_id)?.();
              }
              const m = typeof e.content?.body === "string" ? MARKER.exec(e.content.body) : null;
              if (!m) continue;
              const key = `${m[1]}:${m[2]}`;
              if (!self!.arrived.has(key)) self!.arrived.set(key, at);
              self!.waiters.get(key)?.();
            }
          } catch {
            // not JSON: nothing to note
          }
        }
        res.writeHead(url.includes("/users/") || url.includes("/rooms/") ? 404 : 200, {
          "content-type": "application/json",
        });
        res.end("{}");
      });
    });
    await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
    self = new ProbeAppservice(server, port);
    return self;
  }

  get userId(): string {
    return `@${this.localpart}:localhost`;
  }

  /** The registration file Synapse loads next to the bridge's. */
  writeRegistration(file: string): void {
    const reg = {
      id: "bench-probe",
      url: `http://127.0.0.1:${this.port}`,
      as_token: this.asToken,
      hs_token: this.hsToken,
      sender_localpart: this.localpart,
      rate_limited: false,
      namespaces: { users: [{ exclusive: true, regex: "@benchprobe.*:localhost" }], aliases: [], rooms: [] },
    };
    writeFileSync(file, dump(reg), { mode: 0o600 });
  }

  /** Joins the room as the probe user (it must be invited first). */
  async join(homeserver: string, roomId: string): Promise<void> {
    const url = `${homeserver}/_matrix/client/v3/join/${encodeURIComponent(roomId)}?user_id=${encodeURIComponent(this.userId)}`;
    const res = await fetch(url, {
      method: "POST",
      headers: { authorization: `Bearer ${this.asToken}`, "content-type": "application/json" },
      body: "{}",
    });
    if (!res.ok) throw new Error(`probe join ${roomId}: ${res.status} ${await res.text()}`);
  }

  /** Resolves with the arrival time (Date.now()) of the marker `key`; rejects after `timeoutMs`. */
  waitFor(key: string, timeoutMs = 30_000): Promise<number> {
    return arrival(this.arrived, this.waiters, key, timeoutMs, "marker");
  }

  /** Resolves with the arrival time (Date.now()) of the event `eventId`; rejects after `timeoutMs`. */
  waitForEvent(eventId: string, timeoutMs = 30_000): Promise<number> {
    return arrival(this.arrivedById, this.idWaiters, eventId, timeoutMs, "event");
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

function arrival(
  arrived: Map<string, number>,
  waiters: Map<string, () => void>,
  key: string,
  timeoutMs: number,
  what: string,
): Promise<number> {
  const hit = arrived.get(key);
  if (hit !== undefined) return Promise.resolve(hit);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      waiters.delete(key);
      reject(new Error(`probe: ${what} ${key} not pushed within ${timeoutMs} ms`));
    }, timeoutMs);
    waiters.set(key, () => {
      clearTimeout(timer);
      waiters.delete(key);
      resolve(arrived.get(key)!);
    });
  });
}

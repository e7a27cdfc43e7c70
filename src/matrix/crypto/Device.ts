import {
  type KeysClaimRequest,
  type KeysQueryRequest,
  type KeysUploadRequest,
  type OlmMachine,
  RequestType,
  type RoomMessageRequest,
  type SignatureUploadRequest,
  type ToDeviceRequest,
} from "@matrix-org/matrix-sdk-crypto-wasm";
import { Logger } from "../../log/Logger";
import type { MatrixApi } from "../MatrixApi";

const log = new Logger("Crypto");
const enc = encodeURIComponent;

type Outgoing =
  | KeysUploadRequest
  | KeysQueryRequest
  | KeysClaimRequest
  | ToDeviceRequest
  | SignatureUploadRequest
  | RoomMessageRequest;

/** What makes the crypto state durable: every change is written before it is acted on. */
export interface DurableStore {
  flush(): Promise<void>;
}

/**
 * One device of one of the bridge's users (the bot, the AI user, a ghost): its OlmMachine and
 * the requests the machine asks for, sent as that user and device (appservice masquerading).
 * State the machine changed is flushed to the database before anything that depends on it
 * leaves the bridge (a to-device message encrypted with a ratcheted Olm session, an event
 * encrypted with the next Megolm index), so a kill -9 never makes the bridge reuse a key.
 */
export class Device {
  private running?: Promise<void>;
  private again = false;
  /** Serializes the steps of encrypting for one room (sharing the key, then encrypting). */
  private readonly roomLocks = new Map<string, Promise<unknown>>();

  constructor(
    readonly userId: string,
    readonly deviceId: string,
    readonly machine: OlmMachine,
    private readonly api: MatrixApi,
    private readonly store: DurableStore,
  ) {}

  /** Runs `fn` after every earlier call for the same room has finished. */
  inRoom<T>(roomId: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.roomLocks.get(roomId) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.roomLocks.set(roomId, tail);
    void tail.then(() => {
      if (this.roomLocks.get(roomId) === tail) this.roomLocks.delete(roomId);
    });
    return next;
  }

  /**
   * Sends whatever the machine has queued (key uploads, key queries, to-device messages) and
   * tells it the answers; resolves once everything queued before the call has been tried.
   * One run at a time: a call during a run makes it go round once more.
   */
  sendOutgoing(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        do {
          this.again = false;
          await this.sendOnce();
        } while (this.again);
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  private async sendOnce(): Promise<void> {
    const requests = (await this.machine.outgoingRequests()) as Outgoing[];
    if (!requests.length) return;
    await this.store.flush();
    await Promise.all(
      requests.map(async (r) => {
        try {
          const response = await this.send(r);
          if (response !== undefined && r.id) await this.machine.markRequestAsSent(r.id, r.type, response);
        } catch (err) {
          // Left unmarked: the machine asks for it again on the next run.
          log.warn("crypto request failed; it is tried again", {
            user: this.userId,
            request: RequestType[r.type],
            err: String(err),
          });
        }
      }),
    );
    await this.store.flush();
  }

  /** Performs one request; the homeserver's answer as JSON text. */
  async send(r: Outgoing): Promise<string | undefined> {
    const as = { userId: this.userId, query: { device_id: this.deviceId } };
    const post = (path: string, body: string) =>
      this.api.request("POST", path, { ...as, body: JSON.parse(body) }).then((res) => JSON.stringify(res));
    switch (r.type) {
      case RequestType.KeysUpload:
        return post("/_matrix/client/v3/keys/upload", r.body);
      case RequestType.KeysQuery:
        return post("/_matrix/client/v3/keys/query", r.body);
      case RequestType.KeysClaim:
        return post("/_matrix/client/v3/keys/claim", r.body);
      case RequestType.SignatureUpload:
        return post("/_matrix/client/v3/keys/signatures/upload", r.body);
      case RequestType.ToDevice: {
        const t = r as ToDeviceRequest;
        const res = await this.api.request(
          "PUT",
          `/_matrix/client/v3/sendToDevice/${enc(t.event_type)}/${enc(t.txn_id)}`,
          { ...as, body: JSON.parse(t.body) },
        );
        return JSON.stringify(res);
      }
      case RequestType.RoomMessage: {
        const m = r as RoomMessageRequest;
        const res = await this.api.request(
          "PUT",
          `/_matrix/client/v3/rooms/${enc(m.room_id)}/send/${enc(m.event_type)}/${enc(m.txn_id)}`,
          { ...as, body: JSON.parse(m.body) },
        );
        return JSON.stringify(res);
      }
      default:
        return undefined; // key backup: not used by the bridge
    }
  }
}

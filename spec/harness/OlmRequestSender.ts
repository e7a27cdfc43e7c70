import {
  KeysClaimRequest,
  KeysQueryRequest,
  KeysUploadRequest,
  type OlmMachine,
  RoomMessageRequest,
  SignatureUploadRequest,
  ToDeviceRequest,
} from "@matrix-org/matrix-sdk-crypto-wasm";

/** One request an `OlmMachine` asks its client to send. */
export type OutgoingRequest = Awaited<ReturnType<OlmMachine["outgoingRequests"]>>[number];

/** Calls the client-server API (`path` below `/_matrix/client/v3`) and returns the parsed JSON answer. */
export type ApiCall = (method: string, path: string, body: unknown) => Promise<unknown>;

const enc = encodeURIComponent;

/**
 * Sends an `OlmMachine`'s outgoing requests (key upload, key query, one-time key claims, to-device messages,
 * signature uploads, room messages) over the client-server API and reports each answer back to the machine.
 * Batches run one after another, so a pending request is never sent twice at the same time. Key backup
 * requests are left alone: backup is not enabled.
 */
export class OlmRequestSender {
  private chain: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly machine: OlmMachine,
    private readonly api: ApiCall,
  ) {}

  /** Runs `fn` after every batch queued before it. */
  serially<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** Sends everything the machine has pending, again while sending made more (at most 10 rounds). */
  flush(): Promise<void> {
    return this.serially(async () => {
      for (let round = 0; round < 10 && !this.closed; round++) {
        const pending = (await this.machine.outgoingRequests()).filter((r) => !this.closed && sendable(r));
        if (pending.length === 0) return;
        for (const r of pending) await this.send(r);
      }
    });
  }

  /** Sends one request and marks it as sent with the server's answer (call inside {@link serially}). */
  async send(r: OutgoingRequest): Promise<void> {
    const body = JSON.parse(r.body) as unknown;
    let res: unknown;
    if (r instanceof KeysUploadRequest) res = await this.api("POST", "/keys/upload", body);
    else if (r instanceof KeysQueryRequest) res = await this.api("POST", "/keys/query", body);
    else if (r instanceof KeysClaimRequest) res = await this.api("POST", "/keys/claim", body);
    else if (r instanceof SignatureUploadRequest)
      res = await this.api("POST", "/keys/signatures/upload", body);
    else if (r instanceof ToDeviceRequest) {
      res = await this.api("PUT", `/sendToDevice/${enc(r.event_type)}/${enc(r.txn_id)}`, body);
    } else if (r instanceof RoomMessageRequest) {
      res = await this.api(
        "PUT",
        `/rooms/${enc(r.room_id)}/send/${enc(r.event_type)}/${enc(r.txn_id)}`,
        body,
      );
    } else return;
    if (r.id !== undefined && !this.closed)
      await this.machine.markRequestAsSent(r.id, r.type, JSON.stringify(res));
  }

  /** Resolves when every queued batch has finished. */
  idle(): Promise<unknown> {
    return this.chain;
  }

  /** No further requests are sent or marked (the machine is about to be closed). */
  close(): void {
    this.closed = true;
  }
}

function sendable(r: OutgoingRequest): boolean {
  return (
    r instanceof KeysUploadRequest ||
    r instanceof KeysQueryRequest ||
    r instanceof KeysClaimRequest ||
    r instanceof ToDeviceRequest ||
    r instanceof SignatureUploadRequest ||
    r instanceof RoomMessageRequest
  );
}

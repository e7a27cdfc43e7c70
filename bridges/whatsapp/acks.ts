/**
 * Sends that count only once WhatsApp's server acknowledged them. baileys' `sendMessage`
 * resolves when the frame is written to the socket, not when the server took it: a stanza
 * lost with a dropping socket would be counted as sent. Every send here waits (bounded) for
 * the server's `<ack class="message" id=…>` of its message id, and is sent again with the
 * SAME id when none comes, so the server and the recipient's devices drop a second copy.
 */
import { createHash } from "node:crypto";
import type { BinaryNode, WASocket } from "@whiskeysockets/baileys";
import { BridgeError } from "../../src/core/errors";
import type { Logger } from "../../src/log/Logger";

/**
 * The WhatsApp message id of a relayed Matrix event: the same on every attempt, also after a
 * restart, in the shape WhatsApp Web's own ids have (`3EB0` and 18 hex digits).
 */
export function messageIdFor(eventId: string): string {
  return `3EB0${createHash("sha256").update(`clawbridge\u0000${eventId}`).digest("hex").toUpperCase().slice(0, 18)}`;
}

interface Waiter {
  done(error?: Error): void;
}

export class ServerAcks {
  private readonly waiting = new Map<string, Waiter>();

  constructor(
    private readonly log: Logger,
    private readonly opts: { timeoutMs: number; attempts: number },
  ) {}

  /** Listens for the server's message acks on a new socket. */
  watch(sock: WASocket): void {
    sock.ws.on("CB:ack,class:message", (node: BinaryNode) => {
      const id = node.attrs.id;
      const w = id ? this.waiting.get(id) : undefined;
      if (!w) return;
      this.waiting.delete(id);
      if (node.attrs.error)
        w.done(
          new BridgeError(
            `WhatsApp refused the message (error ${node.attrs.error})`,
            `server ack error ${node.attrs.error}`,
          ),
        );
      else w.done();
    });
  }

  /**
   * Runs `send` (which must use message id `id`) until the server acknowledges `id`: up to
   * `attempts` times, each waiting `timeoutMs`. Throws a retryable error when no ack came, so
   * the delivery queue tries again later (with the same id) and finally tells the room.
   */
  async deliver(id: string, what: string, send: () => Promise<void>): Promise<void> {
    const { timeoutMs, attempts } = this.opts;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      let timer: NodeJS.Timeout | undefined;
      const acked = new Promise<boolean>((resolve, reject) => {
        this.waiting.set(id, { done: (err) => (err ? reject(err) : resolve(true)) });
        timer = setTimeout(() => resolve(false), timeoutMs);
      });
      acked.catch(() => undefined); // awaited below; a refusal during the send is not unhandled
      try {
        // The waiter is in place before the frame is written: an ack cannot come too early.
        // A send that throws (no connection) goes back to the delivery queue, which waits.
        await send();
        if (await acked) return;
      } finally {
        clearTimeout(timer);
        this.waiting.delete(id);
      }
      this.log.warn("WhatsApp did not acknowledge a message, sending it again with the same id", {
        id,
        what,
        attempt,
      });
    }
    throw new BridgeError(
      `WhatsApp did not confirm the ${what} within ${Math.round(timeoutMs / 1000)} s (${attempts} tries)`,
      `no server ack for ${id}`,
      true,
    );
  }
}

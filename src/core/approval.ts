import { randomBytes } from "node:crypto";
import type {
  ApprovalDecision,
  ApprovalHandling,
  ApprovalRequest,
  NetworkClient,
  RemoteChatRef,
} from "./connector";

export type ApprovalOutcome = ApprovalDecision | { timedOut: true };

/**
 * Puts a question to a remote chat's admins through the connector's {@link ApprovalHandling}
 * and waits at most `timeoutMs` for their decision; on timeout the connector withdraws the
 * controls. Connector failures reject (the caller tells the Matrix user).
 */
export async function askApproval(
  client: NetworkClient & ApprovalHandling,
  chat: RemoteChatRef,
  text: string,
  timeoutMs: number,
): Promise<ApprovalOutcome> {
  const controller = new AbortController();
  const timeout = new Error("approval timed out");
  const timer = setTimeout(() => controller.abort(timeout), timeoutMs);
  try {
    return await client.requestApproval(chat, {
      id: randomBytes(8).toString("hex"),
      text,
      signal: controller.signal,
    });
  } catch (err) {
    if (controller.signal.aborted && controller.signal.reason === timeout) return { timedOut: true };
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/** An open approval request as a connector keeps it: its message once sent, and its text. */
export interface OpenApproval<M> {
  readonly sent: M;
  readonly text: string;
}

interface Entry<M> {
  sent: Promise<M | undefined>;
  text: string;
  resolve(d: ApprovalDecision): void;
}

/**
 * The open approval requests of one login, by request id, for a connector's
 * {@link ApprovalHandling}. A request is open before its message is sent, since a press can
 * arrive with the send's answer; it closes on a decision, on abort (the core's timeout) or when
 * the send fails.
 */
export class PendingApprovals<M> {
  private readonly open = new Map<string, Entry<M>>();

  /**
   * Opens `req`, whose message `sending` is on its way; resolves with the decision. Rejects
   * when the send fails, or when the request is aborted (after `expired` was given the message
   * to withdraw its buttons).
   */
  async request(
    req: ApprovalRequest,
    sending: Promise<M>,
    expired: (sent: M) => Promise<unknown>,
  ): Promise<ApprovalDecision> {
    let settle!: (d: ApprovalDecision) => void;
    let fail!: (err: unknown) => void;
    const decided = new Promise<ApprovalDecision>((resolve, reject) => {
      settle = resolve;
      fail = reject;
    });
    const onAbort = () => {
      this.open.delete(req.id);
      void sending.then(expired).catch(() => undefined);
      fail(req.signal.reason);
    };
    const entry: Entry<M> = {
      sent: sending.catch(() => undefined),
      text: req.text,
      resolve: (d) => {
        req.signal.removeEventListener("abort", onAbort);
        settle(d);
      },
    };
    this.open.set(req.id, entry);
    try {
      await sending;
    } catch (err) {
      if (this.open.get(req.id) === entry) this.open.delete(req.id);
      throw err;
    }
    req.signal.addEventListener("abort", onAbort, { once: true });
    if (req.signal.aborted) onAbort();
    return decided;
  }

  /** The request `id` once its message is sent; undefined when it is not open (any more). */
  async get(id: string): Promise<OpenApproval<M> | undefined> {
    const entry = this.open.get(id);
    const sent = await entry?.sent;
    if (!entry || sent === undefined || this.open.get(id) !== entry) return undefined;
    return { sent, text: entry.text };
  }

  /**
   * Decides `id` when it is still open (the caller may have awaited the platform since
   * {@link get}); false when it closed in between. Ids are never reused.
   */
  decide(id: string, d: ApprovalDecision): boolean {
    const entry = this.open.get(id);
    if (!entry) return false;
    this.open.delete(id);
    entry.resolve(d);
    return true;
  }
}

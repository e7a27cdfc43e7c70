import { randomBytes } from "node:crypto";
import type { ApprovalDecision, ApprovalHandling, NetworkClient, RemoteChatRef } from "./connector";

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

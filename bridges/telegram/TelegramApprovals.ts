/**
 * Approval requests in Telegram chats: a message with an inline keyboard (Approve / Deny);
 * pressing a button sends the bot a `callback_query`. Only the chat's creator and
 * administrators (getChatMember) decide; everyone else gets an alert and the request stays.
 */
import type { Bot } from "grammy";
import type { CallbackQuery } from "grammy/types";
import type {
  ApprovalDecision,
  ApprovalRequest,
  ConnectorContext,
  RemoteChatRef,
} from "../../src/core/connector";
import { userDisplayName } from "./convert/index";
import { describe, tg } from "./errors";

const PREFIX = "cbapprove";

interface Pending {
  chatId: number;
  /** The request's message id; registered before the send, since a press can beat its answer. */
  messageId: Promise<number | undefined>;
  text: string;
  resolve(d: ApprovalDecision): void;
}

export class TelegramApprovals {
  private readonly pending = new Map<string, Pending>();

  constructor(
    private readonly bot: Bot,
    private readonly ctx: ConnectorContext,
  ) {}

  async request(chat: RemoteChatRef, req: ApprovalRequest): Promise<ApprovalDecision> {
    req.signal.throwIfAborted();
    const chatId = Number(chat.id);
    let settle!: (d: ApprovalDecision) => void;
    let fail!: (err: unknown) => void;
    const decided = new Promise<ApprovalDecision>((resolve, reject) => {
      settle = resolve;
      fail = reject;
    });
    const sending = tg(() =>
      this.bot.api.sendMessage(chatId, req.text, {
        ...(chat.threadId !== undefined ? { message_thread_id: Number(chat.threadId) } : {}),
        reply_markup: {
          inline_keyboard: [
            [
              { text: "Approve", callback_data: `${PREFIX}:y:${req.id}` },
              { text: "Deny", callback_data: `${PREFIX}:n:${req.id}` },
            ],
          ],
        },
      }),
    ).then((m) => m.message_id);
    const onAbort = () => {
      this.pending.delete(req.id);
      void sending.then((messageId) =>
        this.close(chatId, messageId, `${req.text}\n\nNobody decided in time: the request expired.`),
      );
      fail(req.signal.reason);
    };
    this.pending.set(req.id, {
      chatId,
      messageId: sending.catch(() => undefined),
      text: req.text,
      resolve: (d) => {
        req.signal.removeEventListener("abort", onAbort);
        settle(d);
      },
    });
    try {
      await sending;
    } catch (err) {
      this.pending.delete(req.id);
      throw err;
    }
    req.signal.addEventListener("abort", onAbort, { once: true });
    if (req.signal.aborted) onAbort();
    return decided;
  }

  /** Handles a pressed button; true when it was one of ours (answered either way). */
  async onCallbackQuery(q: CallbackQuery): Promise<boolean> {
    const m = /^cbapprove:([yn]):([0-9a-f]{1,16})$/.exec(q.data ?? "");
    if (!m) return false;
    const [, verdict, id] = m;
    const p = this.pending.get(id!);
    const messageId = await p?.messageId;
    const answer = (text: string, alert = false) =>
      tg(() => this.bot.api.answerCallbackQuery(q.id, { text, show_alert: alert })).catch((err) =>
        this.ctx.log.debug("telegram: callback not answered", { err: describe(err) }),
      );
    if (
      !p ||
      messageId === undefined ||
      q.message?.message_id !== messageId ||
      q.message.chat.id !== p.chatId
    ) {
      await answer("This request is no longer open.");
      return true;
    }
    let status: string;
    try {
      status = (await tg(() => this.bot.api.getChatMember(p.chatId, q.from.id))).status;
    } catch (err) {
      this.ctx.log.warn("telegram: could not check who pressed an approval button", { err: describe(err) });
      await answer("I could not check your rights in this chat; try again.", true);
      return true;
    }
    if (status !== "creator" && status !== "administrator") {
      await answer("Only admins of this chat may decide this.", true);
      return true;
    }
    if (this.pending.get(id!) !== p) {
      await answer("This request is no longer open."); // decided or expired while asking Telegram
      return true;
    }
    this.pending.delete(id!);
    const approved = verdict === "y";
    const by = userDisplayName(q.from) || String(q.from.id);
    await answer(approved ? "Approved." : "Denied.");
    await this.close(p.chatId, messageId, `${p.text}\n\n${approved ? "Approved" : "Denied"} by ${by}.`);
    p.resolve({ approved, by: `${by} (Telegram user ${q.from.id})` });
    return true;
  }

  /** Replaces the request with its outcome; the edit without reply_markup removes the buttons. */
  private async close(chatId: number, messageId: number, text: string): Promise<void> {
    await tg(() => this.bot.api.editMessageText(chatId, messageId, text)).catch((err) =>
      this.ctx.log.debug("telegram: approval request not updated", { err: describe(err) }),
    );
  }
}

/**
 * Approval requests in Telegram chats: a message with an inline keyboard (Approve / Deny);
 * pressing a button sends the bot a `callback_query`. Only the chat's creator and
 * administrators (getChatMember) decide; everyone else gets an alert and the request stays.
 */
import type { Bot } from "grammy";
import type { CallbackQuery } from "grammy/types";
import { PendingApprovals } from "../../src/core/approval";
import type {
  ApprovalDecision,
  ApprovalRequest,
  ConnectorContext,
  RemoteChatRef,
} from "../../src/core/connector";
import { userDisplayName } from "./convert/index";
import { describe, tg } from "./errors";

const PREFIX = "cbapprove";

export class TelegramApprovals {
  private readonly pending = new PendingApprovals<{ chatId: number; messageId: number }>();

  constructor(
    private readonly bot: Bot,
    private readonly ctx: ConnectorContext,
  ) {}

  async request(chat: RemoteChatRef, req: ApprovalRequest): Promise<ApprovalDecision> {
    req.signal.throwIfAborted();
    const chatId = Number(chat.id);
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
    ).then((m) => ({ chatId, messageId: m.message_id }));
    return this.pending.request(req, sending, (sent) =>
      this.close(sent.chatId, sent.messageId, `${req.text}\n\nNobody decided in time: the request expired.`),
    );
  }

  /** Handles a pressed button; true when it was one of ours (answered either way). */
  async onCallbackQuery(q: CallbackQuery): Promise<boolean> {
    const m = /^cbapprove:([yn]):([0-9a-f]{1,16})$/.exec(q.data ?? "");
    if (!m) return false;
    const [, verdict, id] = m;
    const p = await this.pending.get(id!);
    const answer = (text: string, alert = false) =>
      tg(() => this.bot.api.answerCallbackQuery(q.id, { text, show_alert: alert })).catch((err) =>
        this.ctx.log.debug("telegram: callback not answered", { err: describe(err) }),
      );
    if (!p || q.message?.message_id !== p.sent.messageId || q.message.chat.id !== p.sent.chatId) {
      await answer("This request is no longer open.");
      return true;
    }
    let status: string;
    try {
      status = (await tg(() => this.bot.api.getChatMember(p.sent.chatId, q.from.id))).status;
    } catch (err) {
      this.ctx.log.warn("telegram: could not check who pressed an approval button", { err: describe(err) });
      await answer("I could not check your rights in this chat; try again.", true);
      return true;
    }
    if (status !== "creator" && status !== "administrator") {
      await answer("Only admins of this chat may decide this.", true);
      return true;
    }
    const approved = verdict === "y";
    const by = userDisplayName(q.from) || String(q.from.id);
    if (!this.pending.decide(id!, { approved, by: `${by} (Telegram user ${q.from.id})` })) {
      await answer("This request is no longer open."); // decided or expired while asking Telegram
      return true;
    }
    await answer(approved ? "Approved." : "Denied.");
    await this.close(
      p.sent.chatId,
      p.sent.messageId,
      `${p.text}\n\n${approved ? "Approved" : "Denied"} by ${by}.`,
    );
    return true;
  }

  /** Replaces the request with its outcome; the edit without reply_markup removes the buttons. */
  private async close(chatId: number, messageId: number, text: string): Promise<void> {
    await tg(() => this.bot.api.editMessageText(chatId, messageId, text)).catch((err) =>
      this.ctx.log.debug("telegram: approval request not updated", { err: describe(err) }),
    );
  }
}

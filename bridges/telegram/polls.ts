/**
 * Telegram polls: Matrix polls go out as native ones (`sendPoll`, not anonymous, so votes are
 * reported), votes come back from `poll_answer` and closed polls from `poll` updates.
 *
 * Neither update names the chat or the message, only the poll id: each poll the bot sends or
 * sees is remembered in the connector's key/value store (`poll:<poll id>`) with its chat,
 * message and the Matrix answer id of each option. Telegram reports votes only in polls the bot
 * sent, and closed polls only for those and for polls stopped by hand.
 */
import type { Api } from "grammy";
import type { Message, Update } from "grammy/types";
import type {
  ConnectorStore,
  OutboundPoll,
  RemoteChatRef,
  RemoteEvent,
  RemotePollEnd,
  RemotePollVote,
} from "../../src/core/connector";
import type { Logger } from "../../src/log/Logger";
import { isBadRequest, tg } from "./errors";
import { fromUser } from "./inbound";

/** The Bot API's limits for sendPoll. */
export const TG_POLL = { minOptions: 2, maxOptions: 12, question: 300, option: 100 } as const;

/** What is remembered of one poll. */
export interface PollRecord {
  chat: string;
  thread?: string;
  message: string;
  /** The Matrix answer id of each option, by position. */
  answers: string[];
  /** Option persistent id → Matrix answer id. */
  persistent: Record<string, string>;
  /** The bot sent it (its closing is the bot's own doing). */
  sent?: boolean;
  /** The Matrix poll start it was sent for. */
  event?: string;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const POLL_ID = /^[\w-]{1,64}$/;

/** Whether a Matrix poll can be a Telegram poll; `question` is what goes out as its question. */
export function telegramPollFits(poll: OutboundPoll, question: string): boolean {
  const n = poll.answers.length;
  return (
    question.trim().length > 0 &&
    question.length <= TG_POLL.question &&
    n >= TG_POLL.minOptions &&
    n <= TG_POLL.maxOptions &&
    poll.answers.every((a) => a.text.trim().length > 0 && a.text.length <= TG_POLL.option)
  );
}

/** The record of a poll in a message (sent by the bot, with `answers` its Matrix ids; else Telegram's). */
export function pollRecordOf(
  m: Message,
  chat: RemoteChatRef,
  matrixIds?: readonly string[],
  /** The Matrix poll start a sent poll is the copy of. */
  event?: string,
): PollRecord | undefined {
  const poll = m.poll;
  if (!isObj(poll) || typeof poll.id !== "string" || !Array.isArray(poll.options)) return undefined;
  const answers: string[] = [];
  const persistent: Record<string, string> = {};
  for (const [i, o] of poll.options.entries()) {
    const pid = isObj(o) && typeof o.persistent_id === "string" ? o.persistent_id.slice(0, 64) : "";
    // The same ids as the Matrix poll start of a received poll (convert/rich.ts pollMessage).
    const id = matrixIds ? matrixIds[i] : pid || String(i);
    if (id === undefined) continue;
    answers[i] = id;
    if (pid && pid !== "__proto__") persistent[pid] = id;
  }
  return {
    chat: chat.id,
    ...(chat.threadId !== undefined ? { thread: chat.threadId } : {}),
    message: String(m.message_id),
    answers,
    persistent,
    ...(matrixIds ? { sent: true } : {}),
    ...(event ? { event } : {}),
  };
}

/**
 * A `poll_answer` as a vote, or a reason it is not one. The persistent ids are used where they
 * all resolve (options may have been added or removed since), else the positions.
 */
export function voteOf(a: unknown, rec: PollRecord, botId: number): RemotePollVote | string {
  if (!isObj(a)) return "poll_answer is not an object";
  const user = a.user as Obj | undefined;
  if (!isObj(user) || !Number.isSafeInteger(user.id))
    return "poll_answer without a user (an anonymous chat voted)";
  const pids = Array.isArray(a.option_persistent_ids) ? a.option_persistent_ids : undefined;
  const positions = Array.isArray(a.option_ids) ? a.option_ids : undefined;
  if (!pids && !positions) return "poll_answer without option ids";
  let answers: string[] | undefined;
  if (pids?.every((p) => typeof p === "string" && Object.hasOwn(rec.persistent, p)))
    answers = pids.map((p) => rec.persistent[p as string]!);
  else if (
    positions?.every((i) => Number.isInteger(i) && i >= 0 && typeof rec.answers[i as number] === "string")
  )
    answers = positions.map((i) => rec.answers[i as number]!);
  if (!answers) return "poll_answer names options the poll does not have";
  return {
    kind: "poll-vote",
    chat: rec.thread !== undefined ? { id: rec.chat, threadId: rec.thread } : { id: rec.chat },
    timestamp: Date.now(),
    target: rec.message,
    answers: [...new Set(answers)],
    ...(typeof rec.event === "string" ? { targetEvent: rec.event } : {}),
    ...fromUser(
      {
        id: user.id as number,
        is_bot: user.is_bot === true,
        first_name: typeof user.first_name === "string" ? user.first_name : "",
        ...(typeof user.last_name === "string" ? { last_name: user.last_name } : {}),
        ...(typeof user.username === "string" ? { username: user.username } : {}),
      },
      botId,
    ),
  };
}

/** A closed poll's end (the bot's own closing is `fromSelf`); undefined while it is open. */
export function endOf(poll: Obj, rec: PollRecord): RemotePollEnd | undefined {
  if (poll.is_closed !== true) return undefined;
  return {
    kind: "poll-end",
    chat: rec.thread !== undefined ? { id: rec.chat, threadId: rec.thread } : { id: rec.chat },
    timestamp: Date.now(),
    target: rec.message,
    sender: { id: rec.chat },
    ...(rec.sent ? { fromSelf: true } : {}),
  };
}

/** The connector's memory of polls and its sendPoll / stopPoll calls, for one bot. */
export class TelegramPolls {
  /**
   * Polls being sent: Telegram may report a vote in one before its sendPoll answer (and so
   * the poll's record) is in, when the two answers cross; such a vote waits for the send.
   */
  private readonly sending = new Set<Promise<unknown>>();

  constructor(
    private readonly store: ConnectorStore,
    private readonly log: Logger,
  ) {}

  private async recall(pollId: string): Promise<PollRecord | undefined> {
    const raw = await this.store.kvGet(`poll:${pollId}`);
    if (!raw) return undefined;
    try {
      const rec = JSON.parse(raw) as PollRecord;
      return isObj(rec) && Array.isArray(rec.answers) && isObj(rec.persistent) ? rec : undefined;
    } catch {
      return undefined;
    }
  }

  /** Notes a poll the bot received or sent, so its votes and closing find their message. */
  async remember(
    m: Message,
    chat: RemoteChatRef,
    matrixIds?: readonly string[],
    event?: string,
  ): Promise<void> {
    const rec = pollRecordOf(m, chat, matrixIds, event);
    const id = m.poll?.id;
    if (!rec || typeof id !== "string" || !POLL_ID.test(id)) return;
    await this.store.kvSet(`poll:${id}`, JSON.stringify(rec));
  }

  /**
   * The events of a `poll` or `poll_answer` update ([] when there are none), or undefined for
   * any other update. Malformed ones and polls the bridge does not know are dropped, logged.
   */
  async eventsOf(u: Update | Obj, botId: number): Promise<RemoteEvent[] | undefined> {
    if (!isObj(u)) return undefined;
    const answer = u.poll_answer;
    const poll = u.poll;
    if (answer === undefined && poll === undefined) return undefined;
    const body = answer ?? poll;
    const pollId = isObj(body) ? (answer !== undefined ? body.poll_id : body.id) : undefined;
    if (typeof pollId !== "string" || !POLL_ID.test(pollId)) {
      this.log.warn("telegram: malformed poll update dropped", { updateId: String(u.update_id) });
      return [];
    }
    let rec = await this.recall(pollId);
    if (!rec && this.sending.size) {
      await Promise.allSettled([...this.sending]);
      rec = await this.recall(pollId);
    }
    if (!rec) {
      this.log.debug("telegram: update of a poll the bridge does not know skipped", {
        updateId: String(u.update_id),
      });
      return [];
    }
    if (answer !== undefined) {
      const vote = voteOf(answer, rec, botId);
      if (typeof vote === "string") {
        this.log.info(`telegram: ${vote}; skipped`, { updateId: String(u.update_id), poll: pollId });
        return [];
      }
      return [vote];
    }
    const end = endOf(body as Obj, rec);
    return end ? [end] : [];
  }

  /**
   * Sends `poll` natively, `question` as its question; undefined when Telegram refuses it as a
   * poll (a channel takes no polls with visible voters): the caller sends the text instead.
   */
  async send(
    api: Api,
    chat: RemoteChatRef,
    poll: OutboundPoll,
    question: string,
    other: {
      message_thread_id?: number;
      reply_parameters?: { message_id: number; allow_sending_without_reply: boolean };
    },
    /** The Matrix poll start this is the copy of: its votes can name it. */
    eventId?: string,
  ): Promise<Message | undefined> {
    const sending = this.sendAndRemember(api, chat, poll, question, other, eventId);
    this.sending.add(sending);
    try {
      return await sending;
    } finally {
      this.sending.delete(sending);
    }
  }

  private async sendAndRemember(
    api: Api,
    chat: RemoteChatRef,
    poll: OutboundPoll,
    question: string,
    other: Parameters<TelegramPolls["send"]>[4],
    eventId: string | undefined,
  ): Promise<Message | undefined> {
    try {
      const sent = await tg(() =>
        api.sendPoll(
          Number(chat.id),
          question,
          poll.answers.map((a) => ({ text: a.text })),
          {
            ...other,
            is_anonymous: false,
            allows_multiple_answers: poll.maxSelections > 1,
            ...(poll.disclosed ? {} : { hide_results_until_closes: true }),
          },
        ),
      );
      await this.remember(
        sent,
        chat,
        poll.answers.map((a) => a.id),
        eventId,
      );
      return sent;
    } catch (err) {
      if ((err as { status?: number }).status !== 400) throw err;
      this.log.info("telegram: poll refused as a poll, sent as text", { chat: chat.id, err: String(err) });
      return undefined;
    }
  }

  /** Closes a poll the bot sent; a message that is no poll (sent as text) or is closed already is left. */
  async stop(api: Api, chat: RemoteChatRef, messageId: string): Promise<void> {
    try {
      await tg(() => api.stopPoll(Number(chat.id), Number(messageId)));
    } catch (err) {
      if (isBadRequest(err, "poll") || isBadRequest(err, "message can't be stopped")) {
        this.log.info("telegram: poll not stopped", { chat: chat.id, message: messageId, err: String(err) });
        return;
      }
      throw err;
    }
  }
}

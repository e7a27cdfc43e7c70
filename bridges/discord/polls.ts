/**
 * Discord polls: Matrix polls go out as native ones posted by the bot (a webhook's poll could
 * not be ended from Matrix: only a poll's author may end it), votes come back from the
 * MESSAGE_POLL_VOTE_ADD / _REMOVE dispatches (intents GUILD_MESSAGE_POLLS and
 * DIRECT_MESSAGE_POLLS), and a poll's end from MESSAGE_UPDATE with `results.is_finalized`.
 *
 * Discord reports one answer at a time, Matrix wants the voter's whole choice: each voter's
 * current answers are kept in the connector's key/value store (`votes:<message>:<user>`), as are
 * the Matrix answer id of each answer of a poll the bridge sent and the Matrix poll start it is
 * the copy of (`poll:<message>`).
 *
 * Discord may dispatch a vote in a poll the bot just posted before the poll's message-map row is
 * written, and even before the answer to the POST that posted it: a vote names the poll's Matrix
 * event (`targetEvent`), and one that finds no record while polls are being sent waits for them.
 */
import type { PollData } from "discord.js";
import type {
  ConnectorStore,
  OutboundMessage,
  OutboundPoll,
  RemoteChatRef,
  RemoteEvent,
  RemotePollEnd,
  SentRef,
} from "../../src/core/connector";
import type { Logger } from "../../src/log/Logger";
import type { DiscordSender } from "./DiscordSender";

/** Discord's limits for a poll. */
export const DC_POLL = { maxAnswers: 10, answer: 55, question: 300 } as const;
/**
 * How long a poll from Matrix runs, in hours: Discord's longest (32 days), since a Matrix poll
 * runs until its creator ends it.
 */
export const POLL_HOURS = 768;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const SNOWFLAKE = /^\d{1,20}$/;

/** A Matrix poll as Discord's poll, `question` its question; undefined when it does not fit Discord's limits. */
export function discordPollData(poll: OutboundPoll, question: string): PollData | undefined {
  const n = poll.answers.length;
  if (!question.trim() || question.length > DC_POLL.question || n < 1 || n > DC_POLL.maxAnswers)
    return undefined;
  if (poll.answers.some((a) => !a.text.trim() || a.text.length > DC_POLL.answer)) return undefined;
  return {
    question: { text: question },
    answers: poll.answers.map((a) => ({ text: a.text })),
    duration: POLL_HOURS,
    allowMultiselect: poll.maxSelections > 1,
  };
}

/** One vote dispatch, read strictly. */
export interface VoteDispatch {
  remove: boolean;
  userId: string;
  channelId: string;
  messageId: string;
  answerId: number;
}

/** A MESSAGE_POLL_VOTE_ADD / _REMOVE payload, or why it is not one. */
export function voteDispatchOf(t: unknown, d: unknown): VoteDispatch | string {
  if (t !== "MESSAGE_POLL_VOTE_ADD" && t !== "MESSAGE_POLL_VOTE_REMOVE") return "not a vote";
  if (!isObj(d)) return "vote without a payload";
  const { user_id, channel_id, message_id, answer_id } = d;
  for (const id of [user_id, channel_id, message_id])
    if (typeof id !== "string" || !SNOWFLAKE.test(id)) return "vote with a malformed id";
  if (!Number.isSafeInteger(answer_id) || (answer_id as number) < 1 || (answer_id as number) > 100)
    return "vote with a malformed answer_id";
  return {
    remove: t === "MESSAGE_POLL_VOTE_REMOVE",
    userId: user_id as string,
    channelId: channel_id as string,
    messageId: message_id as string,
    answerId: answer_id as number,
  };
}

/** A MESSAGE_UPDATE that finalizes a poll: its channel, message and author. */
export function pollFinalizedOf(
  d: unknown,
): { channelId: string; messageId: string; authorId: string } | undefined {
  if (!isObj(d) || !isObj(d.poll) || !isObj(d.poll.results) || d.poll.results.is_finalized !== true)
    return undefined;
  const author = isObj(d.author) && typeof d.author.id === "string" ? d.author.id : "0";
  if (typeof d.id !== "string" || !SNOWFLAKE.test(d.id)) return undefined;
  if (typeof d.channel_id !== "string" || !SNOWFLAKE.test(d.channel_id)) return undefined;
  return { channelId: d.channel_id, messageId: d.id, authorId: author };
}

/** A voter's answers after one dispatch (sorted, no duplicates). */
export function applyVote(before: readonly number[], v: Pick<VoteDispatch, "remove" | "answerId">): number[] {
  const s = new Set(before);
  if (v.remove) s.delete(v.answerId);
  else s.add(v.answerId);
  return [...s].sort((a, b) => a - b);
}

/** What is remembered of a poll the bot sent. */
export interface SentPollRecord {
  /** Discord answer id → Matrix answer id. */
  answers: Record<string, string>;
  /** The Matrix poll start it was sent for. */
  event?: string;
}

export interface DiscordPollsOptions {
  store: ConnectorStore;
  log: Logger;
  emit(ev: RemoteEvent): Promise<void>;
  /** The portal chat of a channel, or undefined when the channel is not bridged. */
  chatOf(channelId: string): RemoteChatRef | undefined;
  botId(): string | undefined;
}

/** The connector's poll memory and its handling of vote and end dispatches, for one bot. */
export class DiscordPolls {
  /** Dispatches one after another: a voter's answers are read, changed and stored in order. */
  private chain: Promise<void> = Promise.resolve();
  /**
   * Polls being sent: Discord may dispatch a vote in one before the answer to its POST (and so
   * the poll's record) is in; such a vote waits for the send.
   */
  private readonly sending = new Set<Promise<unknown>>();

  constructor(private readonly o: DiscordPollsOptions) {}

  /**
   * Sends `msg.poll` as a native poll ("Name: question" where it fits, else the question); undefined
   * when it does not fit Discord's limits (the caller sends the text).
   */
  async send(sender: DiscordSender, chat: RemoteChatRef, msg: OutboundMessage): Promise<SentRef | undefined> {
    const poll = msg.poll;
    if (!poll) return undefined;
    const data =
      discordPollData(poll, `${msg.sender.displayName}: ${poll.question}`) ??
      discordPollData(poll, poll.question);
    if (!data) return undefined;
    const sending = (async () => {
      const sent = await sender.sendPoll(chat, msg, data);
      await this.remember(sent.id, poll, [...(sent.poll?.answers.keys() ?? [])], msg.eventId);
      return sent;
    })();
    this.sending.add(sending);
    try {
      const sent = await sending;
      return { ids: [sent.id], timestamp: sent.createdTimestamp };
    } finally {
      this.sending.delete(sending);
    }
  }

  /**
   * Notes the Matrix answer id of each Discord answer id of a poll the bot sent (`answerIds`:
   * Discord's, in the order given; Discord numbers them from 1) and the Matrix poll start it
   * is the copy of (`event`), which its votes name.
   */
  async remember(
    messageId: string,
    poll: OutboundPoll,
    answerIds: readonly number[],
    event?: string,
  ): Promise<void> {
    const answers: Record<string, string> = {};
    for (const [i, a] of poll.answers.entries()) answers[String(answerIds[i] ?? i + 1)] = a.id;
    const rec: SentPollRecord = { answers, ...(event ? { event } : {}) };
    await this.o.store.kvSet(`poll:${messageId}`, JSON.stringify(rec));
  }

  /** The record of a poll the bot sent; while polls are being sent, after they are. */
  private async recall(messageId: string): Promise<SentPollRecord | undefined> {
    const key = `poll:${messageId}`;
    let raw = await this.o.store.kvGet(key);
    if (!raw && this.sending.size) {
      await Promise.allSettled([...this.sending]);
      raw = await this.o.store.kvGet(key);
    }
    return sentPollRecordOf(raw);
  }

  /** Takes a gateway dispatch (discord.js's `raw` event); polls' are handled, others ignored. */
  onDispatch(packet: unknown): void {
    if (!isObj(packet)) return;
    const { t, d } = packet;
    if (t === "MESSAGE_POLL_VOTE_ADD" || t === "MESSAGE_POLL_VOTE_REMOVE") {
      const v = voteDispatchOf(t, d);
      if (typeof v === "string") {
        this.o.log.warn(`discord: ${v}; dropped`, { type: t });
        return;
      }
      this.queue(() => this.vote(v));
    } else if (t === "MESSAGE_UPDATE") {
      const end = pollFinalizedOf(d);
      if (end) this.queue(() => this.end(end));
    }
  }

  private queue(fn: () => Promise<void>): void {
    this.chain = this.chain
      .then(fn)
      .catch((err: unknown) => this.o.log.warn("discord: poll event not bridged", { err: String(err) }));
  }

  private async vote(v: VoteDispatch): Promise<void> {
    const chat = this.o.chatOf(v.channelId);
    if (!chat) return;
    const key = `votes:${v.messageId}:${v.userId}`;
    const before = parseNumbers(await this.o.store.kvGet(key));
    const now = applyVote(before, v);
    await this.o.store.kvSet(key, JSON.stringify(now));
    // A poll from Matrix names its answers by the Matrix ids; a Discord poll by Discord's (inbound.ts pollOf).
    const rec = await this.recall(v.messageId);
    const map = rec?.answers;
    await this.o.emit({
      kind: "poll-vote",
      chat,
      sender: { id: v.userId },
      timestamp: Date.now(),
      target: v.messageId,
      answers: now.map((id) => (map ? (map[String(id)] ?? String(id)) : String(id))),
      ...(rec?.event ? { targetEvent: rec.event } : {}),
      ...(v.userId === this.o.botId() ? { fromSelf: true } : {}),
    });
  }

  private async end(e: { channelId: string; messageId: string; authorId: string }): Promise<void> {
    const chat = this.o.chatOf(e.channelId);
    if (!chat) return;
    const ev: RemotePollEnd = {
      kind: "poll-end",
      chat,
      sender: { id: e.authorId },
      timestamp: Date.now(),
      target: e.messageId,
    };
    // The bot's own poll was ended from Matrix (or ran out): nothing to tell Matrix.
    if (e.authorId === this.o.botId()) ev.fromSelf = true;
    await this.o.emit(ev);
  }
}

function parseNumbers(raw: string | undefined): number[] {
  try {
    const v: unknown = raw ? JSON.parse(raw) : [];
    return Array.isArray(v) ? v.filter((n): n is number => Number.isSafeInteger(n)) : [];
  } catch {
    return [];
  }
}

const EVENT_ID = /^\$[^\s]{1,255}$/;

/**
 * A stored poll record, read leniently: `{ answers, event }`, or the bare answer map that was
 * stored before the record named its Matrix event.
 */
export function sentPollRecordOf(raw: string | undefined): SentPollRecord | undefined {
  let v: unknown;
  try {
    v = raw ? JSON.parse(raw) : undefined;
  } catch {
    return undefined;
  }
  if (!isObj(v)) return undefined;
  const map = isObj(v.answers) ? v.answers : v;
  const answers = Object.fromEntries(
    Object.entries(map).filter(([k, x]) => SNOWFLAKE.test(k) && typeof x === "string"),
  ) as Record<string, string>;
  const event = typeof v.event === "string" && EVENT_ID.test(v.event) ? v.event : undefined;
  return { answers, ...(event ? { event } : {}) };
}

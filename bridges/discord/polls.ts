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
 *
 * Discord replays nothing to a new gateway session, so what happened to a poll while the bridge
 * was away (killed, or its session lost) is read again on every identify: the polls seen lately
 * (`polls:tracked`, the newest 50 that have not run out) are fetched with their voters, and each
 * voter whose choice differs from the stored one (`voters:<message>` lists who voted) gets one
 * vote with their whole current choice; a poll that ended meanwhile ends.
 */
import { DiscordAPIError, type PollData, type REST, Routes } from "discord.js";
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
  /** A poll and its voters as Discord has them now (see {@link readPoll}), for the catch-up. */
  readPoll?(channelId: string, messageId: string): Promise<PollNow | undefined>;
}

/** A poll as Discord has it now. */
export interface PollNow {
  finalized: boolean;
  authorId: string;
  /** Each voter's answers, sorted. */
  voters: Map<string, number[]>;
}

/** A poll whose votes the catch-up reads again: its channel, message and when it ends at the latest. */
interface TrackedPoll {
  channel: string;
  message: string;
  until: number;
}

/** Polls the catch-up reads again, newest kept. */
const MAX_TRACKED = 50;
const sameChoice = (a: readonly number[], b: readonly number[]): boolean =>
  a.length === b.length && a.every((x, i) => x === b[i]);

/** The connector's poll memory and its handling of vote and end dispatches, for one bot. */
export class DiscordPolls {
  /** Dispatches one after another: a voter's answers are read, changed and stored in order. */
  private chain: Promise<void> = Promise.resolve();
  /**
   * Polls being sent: Discord may dispatch a vote in one before the answer to its POST (and so
   * the poll's record) is in; such a vote waits for the send.
   */
  private readonly sending = new Set<Promise<unknown>>();
  /** Changes of the list of tracked polls, one after another. */
  private tracking: Promise<unknown> = Promise.resolve();

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
      await this.track(sent.channelId, sent.id);
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
    } else if (t === "MESSAGE_CREATE" && isObj(d) && isObj(d.poll)) {
      // A new poll: its votes and its end while the bridge is away are caught up.
      const { id, channel_id } = d;
      if (typeof id !== "string" || !SNOWFLAKE.test(id) || typeof channel_id !== "string") return;
      if (!SNOWFLAKE.test(channel_id) || !this.o.chatOf(channel_id)) return;
      this.track(channel_id, id).catch((err: unknown) =>
        this.o.log.warn("discord: poll not tracked", { message: id, err: String(err) }),
      );
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
    const before = parseNumbers(await this.o.store.kvGet(`votes:${v.messageId}:${v.userId}`));
    const now = applyVote(before, v);
    // Nothing changed: a dispatch for what the catch-up already read.
    if (sameChoice(before, now)) return;
    await this.choose(chat, v.channelId, v.messageId, v.userId, now);
  }

  /** A voter's whole choice is now `answers`: stored, and emitted as their vote. */
  private async choose(
    chat: RemoteChatRef,
    channelId: string,
    messageId: string,
    userId: string,
    answers: number[],
  ): Promise<void> {
    await this.o.store.kvSet(`votes:${messageId}:${userId}`, JSON.stringify(answers));
    const votersKey = `voters:${messageId}`;
    const voters = parseIds(await this.o.store.kvGet(votersKey));
    if (!voters.includes(userId)) await this.o.store.kvSet(votersKey, JSON.stringify([...voters, userId]));
    await this.track(channelId, messageId);
    // A poll from Matrix names its answers by the Matrix ids; a Discord poll by Discord's (inbound.ts pollOf).
    const rec = await this.recall(messageId);
    const map = rec?.answers;
    await this.o.emit({
      kind: "poll-vote",
      chat,
      sender: { id: userId },
      timestamp: Date.now(),
      target: messageId,
      answers: answers.map((id) => (map ? (map[String(id)] ?? String(id)) : String(id))),
      ...(rec?.event ? { targetEvent: rec.event } : {}),
      ...(userId === this.o.botId() ? { fromSelf: true } : {}),
    });
  }

  /**
   * After the bridge was away (on every identify: Discord replays nothing to a new session),
   * each tracked poll is read again: every voter whose choice changed meanwhile gets one vote
   * with their whole current choice, and a poll that ended meanwhile ends. Live dispatches wait
   * behind it.
   */
  catchUp(): void {
    this.queue(() => this.catchUpAll());
  }

  private async catchUpAll(): Promise<void> {
    const read = this.o.readPoll;
    if (!read) return;
    for (const p of await this.tracked()) {
      const chat = this.o.chatOf(p.channel);
      if (p.until < Date.now() || !chat) {
        await this.untrack(p.message);
        continue;
      }
      let now: PollNow | undefined;
      try {
        now = await read(p.channel, p.message);
      } catch (err) {
        this.o.log.warn("discord: poll not read again; its votes meanwhile are not bridged", {
          message: p.message,
          err: String(err),
        });
        continue;
      }
      if (!now) {
        await this.untrack(p.message);
        continue;
      }
      const known = parseIds(await this.o.store.kvGet(`voters:${p.message}`));
      const users = [...new Set([...known, ...now.voters.keys()])].sort(bySnowflake);
      let changed = 0;
      for (const user of users) {
        const before = parseNumbers(await this.o.store.kvGet(`votes:${p.message}:${user}`));
        const after = now.voters.get(user) ?? [];
        if (sameChoice(before, after)) continue;
        await this.choose(chat, p.channel, p.message, user, after);
        changed++;
      }
      if (changed) this.o.log.info("discord: poll votes caught up", { message: p.message, voters: changed });
      if (now.finalized)
        await this.end({ channelId: p.channel, messageId: p.message, authorId: now.authorId });
    }
  }

  private tracked(): Promise<TrackedPoll[]> {
    return this.o.store.kvGet("polls:tracked").then(parseTracked);
  }

  /** Notes a poll for the catch-up (its votes can change while the bridge is away). */
  private track(channelId: string, messageId: string): Promise<void> {
    return this.changeTracked((list) => {
      if (list.some((p) => p.message === messageId)) return undefined;
      const until = Date.now() + POLL_HOURS * 3_600_000;
      return [...list, { channel: channelId, message: messageId, until }].slice(-MAX_TRACKED);
    });
  }

  private untrack(messageId: string): Promise<void> {
    return this.changeTracked((list) =>
      list.some((p) => p.message === messageId) ? list.filter((p) => p.message !== messageId) : undefined,
    );
  }

  /** `change` returns the new list, or undefined to leave it. */
  private changeTracked(change: (list: TrackedPoll[]) => TrackedPoll[] | undefined): Promise<void> {
    const next = this.tracking.then(async () => {
      const list = change(await this.tracked());
      if (list) await this.o.store.kvSet("polls:tracked", JSON.stringify(list));
    });
    this.tracking = next.catch(() => undefined);
    return next;
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
    await this.untrack(e.messageId);
  }
}

const bySnowflake = (a: string, b: string): number =>
  BigInt(a) < BigInt(b) ? -1 : BigInt(a) > BigInt(b) ? 1 : 0;

function parseJson(raw: string | undefined): unknown {
  try {
    return raw ? JSON.parse(raw) : undefined;
  } catch {
    return undefined;
  }
}

function parseIds(raw: string | undefined): string[] {
  const v = parseJson(raw);
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string" && SNOWFLAKE.test(x)) : [];
}

function parseTracked(raw: string | undefined): TrackedPoll[] {
  const v = parseJson(raw);
  if (!Array.isArray(v)) return [];
  return v.filter(
    (p): p is TrackedPoll =>
      isObj(p) &&
      typeof p.channel === "string" &&
      SNOWFLAKE.test(p.channel) &&
      typeof p.message === "string" &&
      SNOWFLAKE.test(p.message) &&
      Number.isSafeInteger(p.until),
  );
}

/**
 * A poll and every voter of each of its answers, read over REST (the message, then
 * `GET /channels/{channel}/polls/{message}/answers/{answer}` page by page); undefined when the
 * message or its poll is gone.
 */
export async function readPoll(
  rest: REST,
  channelId: string,
  messageId: string,
): Promise<PollNow | undefined> {
  let msg: unknown;
  try {
    msg = await rest.get(Routes.channelMessage(channelId, messageId));
  } catch (err) {
    if (err instanceof DiscordAPIError && (err.status === 404 || err.status === 403)) return undefined;
    throw err;
  }
  if (!isObj(msg) || !isObj(msg.poll) || !Array.isArray(msg.poll.answers)) return undefined;
  const voters = new Map<string, number[]>();
  for (const a of msg.poll.answers) {
    const answerId = isObj(a) ? a.answer_id : undefined;
    if (!Number.isSafeInteger(answerId)) continue;
    let after: string | undefined;
    // Pages of 100 voters; a poll with more than 10 000 voters for one answer is read in part.
    for (let page = 0; page < 100; page++) {
      const query = new URLSearchParams({ limit: "100", ...(after ? { after } : {}) });
      const res = await rest.get(Routes.pollAnswerVoters(channelId, messageId, answerId as number), {
        query,
      });
      const users = isObj(res) && Array.isArray(res.users) ? res.users : [];
      for (const u of users) {
        if (!isObj(u) || typeof u.id !== "string" || !SNOWFLAKE.test(u.id)) continue;
        voters.set(u.id, [...(voters.get(u.id) ?? []), answerId as number]);
        after = u.id;
      }
      if (users.length < 100) break;
    }
  }
  for (const [user, answers] of voters)
    voters.set(
      user,
      [...new Set(answers)].sort((x, y) => x - y),
    );
  const results = msg.poll.results;
  return {
    finalized: isObj(results) && results.is_finalized === true,
    authorId: isObj(msg.author) && typeof msg.author.id === "string" ? msg.author.id : "0",
    voters,
  };
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

/**
 * Polls in the Telegram stand-in, checked like the Bot API: `sendPoll` (question 1-300
 * characters, 2-12 InputPollOption objects of 1-100 characters, no visible voters in channels),
 * `stopPoll` (only the bot's own open poll), and users' votes. As on Telegram, the bot hears of
 * every change of a poll it sent (`poll` updates, the closing included) and of each vote in
 * such a poll that is not anonymous (`poll_answer`).
 */
import { randomBytes } from "node:crypto";
import type { BotWorld, LoggedMessage, Obj, SentMessage } from "./BotWorld";
import { badRequest, type Params } from "./wire";

type Handler = (p: Params) => unknown;

/** What the stand-in's methods lend the poll methods. */
export interface PollMethodDeps {
  world: BotWorld;
  /** Reply target and forum topic of a send. */
  context(p: Params, chatId: number): Obj;
  record(
    method: string,
    entry: LoggedMessage,
    p: Params,
    raw: string | undefined,
    extra?: Partial<SentMessage>,
  ): Obj;
  /** Queues an update for the bot. */
  push(update: Obj): void;
}

const list = (v: unknown): unknown => {
  if (typeof v !== "string") return v;
  try {
    return JSON.parse(v);
  } catch {
    throw badRequest("can't parse options JSON object");
  }
};

/** Each user's current choice in each poll: poll id → user id → option positions. */
export type Ballots = Map<string, Map<number, number[]>>;

export function pollMethods(d: PollMethodDeps, ballots: Ballots): Record<string, Handler> {
  const { world } = d;
  return {
    sendPoll: (p) => {
      const chatId = Number(p.chat_id);
      if (!Number.isFinite(chatId)) throw badRequest("chat_id is empty");
      const c = world.chat(chatId);
      const question = typeof p.question === "string" ? p.question.trim() : "";
      if (!question) throw badRequest("poll question must be non-empty");
      if (question.length > 300) throw badRequest("poll question length must not exceed 300");
      const raw = list(p.options);
      if (!Array.isArray(raw)) throw badRequest("options must be an Array");
      if (raw.length < 2) throw badRequest("poll must have at least 2 option");
      if (raw.length > 12) throw badRequest("poll can't have more than 12 options");
      const texts = raw.map((o) => {
        if (typeof o !== "object" || o === null || typeof (o as Obj).text !== "string")
          throw badRequest('can\'t parse InputPollOption: Field "text" must be of type String');
        const t = ((o as Obj).text as string).trim();
        if (!t) throw badRequest("poll options must be non-empty");
        if (t.length > 100) throw badRequest("poll options length must not exceed 100");
        return t;
      });
      const anonymous = p.is_anonymous !== false && p.is_anonymous !== "false";
      if (!anonymous && c.spec.type === "channel")
        throw badRequest("non-anonymous polls can't be sent to channel chats");
      const multiple = p.allows_multiple_answers === true || p.allows_multiple_answers === "true";
      const poll: Obj = {
        id: randomBytes(9).toString("base64url").replace(/[^\w]/g, "x"),
        question,
        options: texts.map((text) => ({
          persistent_id: randomBytes(6).toString("hex"),
          text,
          voter_count: 0,
        })),
        total_voter_count: 0,
        is_closed: false,
        is_anonymous: anonymous,
        type: "regular",
        allows_multiple_answers: multiple,
        allows_revoting: true,
        members_only: false,
      };
      const entry = world.newMessage(c, { ...d.context(p, chatId), poll });
      ballots.set(poll.id as string, new Map());
      return d.record("sendPoll", entry, p, undefined, {
        poll: {
          question,
          options: texts,
          is_anonymous: anonymous,
          allows_multiple_answers: multiple,
          ...hidden(p),
        },
      });
    },
    stopPoll: (p) => {
      const c = world.chat(Number(p.chat_id));
      const m = world.message(c, Number(p.message_id));
      const poll = m?.message.poll as Obj | undefined;
      if (!m || !poll || (m.message.from as Obj | undefined)?.id !== world.bot.id)
        throw badRequest("message with poll to stop not found");
      if (poll.is_closed === true) throw badRequest("poll has already been closed");
      poll.is_closed = true;
      if (m.sent?.poll) m.sent.poll.closed = true;
      d.push({ poll: structuredClone(poll) });
      return poll;
    },
  };
}

function hidden(p: Params): { hide_results_until_closes?: true } {
  return p.hide_results_until_closes === true || p.hide_results_until_closes === "true"
    ? { hide_results_until_closes: true }
    : {};
}

/**
 * A user votes (`options`: positions; empty takes the vote back) in a poll of message
 * `messageId`. Throws where the Telegram app would not let them.
 */
export function vote(
  d: Pick<PollMethodDeps, "world" | "push">,
  ballots: Ballots,
  v: { chat: number; message_id: number; from: number; options: number[] },
): void {
  const c = d.world.chat(v.chat);
  const poll = d.world.message(c, v.message_id)?.message.poll as Obj | undefined;
  if (!poll) throw new Error("no poll in that message");
  if (poll.is_closed === true) throw new Error("the poll is closed");
  const options = poll.options as Obj[];
  if (v.options.some((i) => !Number.isInteger(i) || i < 0 || i >= options.length))
    throw new Error("no such option");
  if (v.options.length > 1 && poll.allows_multiple_answers !== true) throw new Error("one answer only");
  const byUser = ballots.get(poll.id as string) ?? new Map<number, number[]>();
  ballots.set(poll.id as string, byUser);
  for (const i of byUser.get(v.from) ?? []) (options[i]!.voter_count as number)--;
  if (v.options.length) byUser.set(v.from, [...new Set(v.options)]);
  else byUser.delete(v.from);
  for (const i of byUser.get(v.from) ?? []) (options[i]!.voter_count as number)++;
  poll.total_voter_count = byUser.size;
  const bots = (c.messages.get(v.message_id)?.message.from as Obj | undefined)?.id === d.world.bot.id;
  if (!bots) return; // Telegram tells bots only of their own polls
  d.world.ensureUser(v.from);
  if (poll.is_anonymous !== true)
    d.push({
      poll_answer: {
        poll_id: poll.id,
        user: d.world.userObj(v.from),
        option_ids: byUser.get(v.from) ?? [],
        option_persistent_ids: (byUser.get(v.from) ?? []).map((i) => options[i]!.persistent_id),
      },
    });
  d.push({ poll: structuredClone(poll) });
}

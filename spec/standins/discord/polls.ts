/**
 * Polls in the Discord stand-in, as Discord checks them: a message's `poll` (question 1-300
 * characters, 1-10 answers of 1-55, `duration` 1-768 hours, `layout_type` 1), its expiry by its
 * author (`POST /channels/{channel}/polls/{message}/expire`; Discord then sends MESSAGE_UPDATE
 * with `results.is_finalized`), and votes, dispatched as MESSAGE_POLL_VOTE_ADD / _REMOVE only to
 * a bot that asked for the poll intents (GUILD_MESSAGE_POLLS 1 << 24, DIRECT_MESSAGE_POLLS 1 << 25).
 */
import type { DiscordWorld, Obj } from "./DiscordWorld";

export const GUILD_MESSAGE_POLLS = 1 << 24;
export const DIRECT_MESSAGE_POLLS = 1 << 25;

type Answer = [status: number, body?: unknown];
const invalid = (field: string, code: string): Answer => [
  400,
  { message: "Invalid Form Body", code: 50035, errors: { [field]: { _errors: [{ code }] } } },
];

/** A message's `poll` as Discord stores it, or the error Discord answers for it. */
export function pollField(raw: unknown): { poll: Obj } | { error: Answer } {
  if (typeof raw !== "object" || raw === null) return { error: invalid("poll", "MODEL_TYPE_CONVERT") };
  const p = raw as Obj;
  const q = (p.question as Obj | undefined)?.text;
  if (typeof q !== "string" || q.length < 1)
    return { error: invalid("poll.question.text", "BASE_TYPE_REQUIRED") };
  if (q.length > 300) return { error: invalid("poll.question.text", "BASE_TYPE_BAD_LENGTH") };
  if (!Array.isArray(p.answers) || p.answers.length < 1 || p.answers.length > 10)
    return { error: invalid("poll.answers", "BASE_TYPE_BAD_LENGTH") };
  const answers: Obj[] = [];
  for (const [i, a] of (p.answers as unknown[]).entries()) {
    const text = ((a as Obj | null)?.poll_media as Obj | undefined)?.text;
    if (typeof text !== "string" || text.length < 1 || text.length > 55)
      return { error: invalid(`poll.answers.${i}.poll_media.text`, "BASE_TYPE_BAD_LENGTH") };
    answers.push({ answer_id: i + 1, poll_media: { text } });
  }
  const duration = p.duration ?? 24;
  if (!Number.isInteger(duration) || (duration as number) < 1 || (duration as number) > 768)
    return { error: invalid("poll.duration", "NUMBER_TYPE_MIN_MAX") };
  if (p.allow_multiselect !== undefined && typeof p.allow_multiselect !== "boolean")
    return { error: invalid("poll.allow_multiselect", "BASE_TYPE_BOOLEAN") };
  if (p.layout_type !== undefined && p.layout_type !== 1)
    return { error: invalid("poll.layout_type", "ENUM_TYPE_COERCE") };
  return {
    poll: {
      question: { text: q },
      answers,
      expiry: new Date(Date.now() + (duration as number) * 3_600_000).toISOString(),
      allow_multiselect: p.allow_multiselect === true,
      layout_type: 1,
      results: { is_finalized: false, answer_counts: [] },
    },
  };
}

/**
 * A user's open poll as Discord stores it (for `postMessage`'s `poll`): answers numbered from 1,
 * open for an hour, made the way a posted poll is.
 */
export function userPoll(question: string, answers: string[], allowMultiselect = false): Obj {
  const made = pollField({
    question: { text: question },
    answers: answers.map((text) => ({ poll_media: { text } })),
    duration: 1,
    allow_multiselect: allowMultiselect,
  });
  if ("error" in made)
    throw new Error(`discord stand-in: not a poll Discord takes: ${JSON.stringify(made.error[1])}`);
  return made.poll;
}

/** What the poll routes and driver need of the server. */
export interface PollContext {
  world: DiscordWorld;
  dispatch(t: string, d: Obj): void;
  /** The intents of the bot's current gateway session. */
  intents(): number;
}

/** Each user's current answers in each poll: message id → user id → answer ids. */
export type PollVotes = Map<string, Map<string, Set<number>>>;

function counts(poll: Obj, votes: Map<string, Set<number>>): Obj[] {
  return (poll.answers as Obj[]).map((a) => {
    const id = a.answer_id as number;
    return { id, count: [...votes.values()].filter((s) => s.has(id)).length, me_voted: false };
  });
}

/** Ends a poll: its results final, announced as MESSAGE_UPDATE (no edited_timestamp). */
export function finalize(ctx: PollContext, votes: PollVotes, channelId: string, messageId: string): Obj {
  const stored = ctx.world.findMessage(channelId, messageId);
  const poll = stored?.data.poll as Obj | undefined;
  if (!stored || !poll) throw new Error(`discord stand-in: no poll in ${messageId}`);
  poll.expiry = new Date().toISOString();
  poll.results = { is_finalized: true, answer_counts: counts(poll, votes.get(messageId) ?? new Map()) };
  ctx.dispatch("MESSAGE_UPDATE", stored.data);
  return stored.data;
}

/**
 * `POST /channels/{channel}/polls/{message}/expire`: only the poll's author may end it early.
 * `GET /channels/{channel}/polls/{message}/answers/{answer}`: who voted for an answer, by user
 * id, `after` a user id, `limit` 1-100 (default 25), as Discord pages them.
 */
export function pollRoutes(
  ctx: PollContext,
  votes: PollVotes,
): Array<[string, RegExp, (m: string[], body: unknown, q: URLSearchParams) => Answer]> {
  return [
    [
      "GET",
      /^\/channels\/(\d+)\/polls\/(\d+)\/answers\/(\d+)$/,
      (m, _body, q) => {
        const stored = ctx.world.findMessage(m[1]!, m[2]!);
        if (!stored) return [404, { message: "Unknown Message", code: 10008 }];
        const poll = stored.data.poll as Obj | undefined;
        if (!poll) return [400, { message: "Cannot get voters of a non-poll message", code: 520006 }];
        const answer = Number(m[3]);
        if (!(poll.answers as Obj[]).some((a) => a.answer_id === answer))
          return [404, { message: "Unknown Poll Answer", code: 10018 }];
        const limit = q.has("limit") ? Number(q.get("limit")) : 25;
        const after = q.get("after");
        if (
          !Number.isInteger(limit) ||
          limit < 1 ||
          limit > 100 ||
          (after !== null && !/^\d{1,20}$/.test(after))
        )
          return [400, { message: "Invalid Form Body", code: 50035 }];
        const ids = [...(votes.get(m[2]!) ?? new Map<string, Set<number>>()).entries()]
          .filter(([id, mine]) => mine.has(answer) && (after === null || BigInt(id) > BigInt(after)))
          .map(([id]) => id)
          .sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1))
          .slice(0, limit);
        return [200, { users: ids.map((id) => ctx.world.userObject(id)) }];
      },
    ],
    [
      "POST",
      /^\/channels\/(\d+)\/polls\/(\d+)\/expire$/,
      (m) => {
        const stored = ctx.world.findMessage(m[1]!, m[2]!);
        if (!stored) return [404, { message: "Unknown Message", code: 10008 }];
        const poll = stored.data.poll as Obj | undefined;
        if (!poll) return [400, { message: "Cannot expire a non-poll message", code: 520006 }];
        if ((poll.results as Obj | undefined)?.is_finalized === true)
          return [400, { message: "Poll expired", code: 520001 }];
        if (stored.owner !== ctx.world.bot.id) return [403, { message: "Missing Permissions", code: 50013 }];
        return [200, finalize(ctx, votes, m[1]!, m[2]!)];
      },
    ],
  ];
}

/**
 * A user adds (or takes back) their vote for `answerId`: refused where Discord's app would not
 * let them, dispatched only when the bot has the poll intent for that kind of channel.
 */
export function castVote(
  ctx: PollContext,
  votes: PollVotes,
  v: { channelId: string; messageId: string; userId: string; answerId: number; remove?: boolean },
): void {
  const stored = ctx.world.findMessage(v.channelId, v.messageId);
  const poll = stored?.data.poll as Obj | undefined;
  if (!poll) throw new Error("discord stand-in: no poll in that message");
  if ((poll.results as Obj | undefined)?.is_finalized === true)
    throw new Error("discord stand-in: the poll has ended");
  if (!(poll.answers as Obj[]).some((a) => a.answer_id === v.answerId))
    throw new Error("discord stand-in: no such answer");
  const byUser = votes.get(v.messageId) ?? new Map<string, Set<number>>();
  votes.set(v.messageId, byUser);
  const mine = byUser.get(v.userId) ?? new Set<number>();
  if (v.remove) {
    if (!mine.delete(v.answerId)) return;
  } else {
    if (mine.has(v.answerId)) return;
    if (mine.size > 0 && poll.allow_multiselect !== true)
      throw new Error("discord stand-in: one answer only");
    mine.add(v.answerId);
  }
  byUser.set(v.userId, mine);
  const guildId = ctx.world.channels.get(v.channelId)?.guild_id as string | undefined;
  if (!(ctx.intents() & (guildId ? GUILD_MESSAGE_POLLS : DIRECT_MESSAGE_POLLS))) return;
  ctx.dispatch(v.remove ? "MESSAGE_POLL_VOTE_REMOVE" : "MESSAGE_POLL_VOTE_ADD", {
    user_id: v.userId,
    channel_id: v.channelId,
    message_id: v.messageId,
    ...(guildId ? { guild_id: guildId } : {}),
    answer_id: v.answerId,
  });
}

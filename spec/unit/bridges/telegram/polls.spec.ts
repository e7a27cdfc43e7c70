import assert from "node:assert/strict";
import fc from "fast-check";
import type { Message } from "grammy/types";
import {
  endOf,
  type PollRecord,
  pollRecordOf,
  TelegramPolls,
  telegramPollFits,
  voteOf,
} from "../../../../bridges/telegram/polls";
import type { OutboundPoll } from "../../../../src/core/connector";
import { Logger } from "../../../../src/log/Logger";
import { fuzzParams } from "../../../harness/fuzz";

const sentPoll = {
  message_id: 41,
  date: 1,
  chat: { id: -100, type: "supergroup" },
  poll: {
    id: "p1",
    question: "Lunch?",
    options: [
      { persistent_id: "o-a", text: "Pizza", voter_count: 0 },
      { persistent_id: "o-b", text: "Soup", voter_count: 0 },
    ],
  },
} as unknown as Message;

describe("Telegram polls: records, votes and closings", () => {
  const rec = pollRecordOf(sentPoll, { id: "-100", threadId: "7" }, ["ans-0", "ans-1"])!;

  it("a sent poll's record maps positions and persistent ids to the Matrix answer ids", () => {
    assert.deepEqual(rec, {
      chat: "-100",
      thread: "7",
      message: "41",
      answers: ["ans-0", "ans-1"],
      persistent: { "o-a": "ans-0", "o-b": "ans-1" },
      sent: true,
    });
    // A received poll keeps Telegram's ids, as its Matrix poll start has them.
    assert.deepEqual(pollRecordOf(sentPoll, { id: "-100" })?.answers, ["o-a", "o-b"]);
  });

  it("a poll_answer becomes the user's whole choice; persistent ids win, positions serve otherwise", () => {
    const user = { id: 5, is_bot: false, first_name: "Vigo" };
    const byPid = voteOf({ poll_id: "p1", user, option_ids: [0], option_persistent_ids: ["o-b"] }, rec, 1);
    assert.ok(typeof byPid === "object");
    assert.deepEqual(byPid.answers, ["ans-1"]);
    assert.deepEqual(byPid.chat, { id: "-100", threadId: "7" });
    assert.equal(byPid.target, "41");
    assert.equal(byPid.sender.id, "5");
    const byPos = voteOf({ poll_id: "p1", user, option_ids: [1, 0] }, rec, 1);
    assert.ok(typeof byPos === "object");
    assert.deepEqual(byPos.answers, ["ans-1", "ans-0"]);
    const retracted = voteOf({ poll_id: "p1", user, option_ids: [], option_persistent_ids: [] }, rec, 1);
    assert.ok(typeof retracted === "object");
    assert.deepEqual(retracted.answers, []);
    assert.equal(
      typeof voteOf({ poll_id: "p1", voter_chat: { id: -100 }, option_ids: [0] }, rec, 1),
      "string",
    );
    assert.equal(typeof voteOf({ poll_id: "p1", user, option_ids: [9] }, rec, 1), "string");
  });

  it("only a closed poll ends; the bot's own poll's end is its own doing", () => {
    assert.equal(endOf({ is_closed: false }, rec), undefined);
    assert.equal(endOf({ is_closed: true }, rec)?.fromSelf, true);
    assert.equal(endOf({ is_closed: true }, { ...rec, sent: undefined })?.fromSelf, undefined);
  });

  it("a vote whose update crosses the sendPoll answer waits for the poll's record instead of being lost", async () => {
    const kv = new Map<string, string>();
    const store = {
      query: async () => [],
      kvGet: async (k: string) => kv.get(k),
      kvSet: async (k: string, v: string) => {
        kv.set(k, v);
      },
    };
    let answer!: (m: Message) => void;
    const api = { sendPoll: () => new Promise<Message>((r) => (answer = r)) };
    const polls = new TelegramPolls(store, new Logger("test"));
    const poll: OutboundPoll = {
      question: "Lunch?",
      answers: [
        { id: "ans-0", text: "Pizza" },
        { id: "ans-1", text: "Soup" },
      ],
      maxSelections: 1,
      disclosed: true,
    };
    const sending = polls.send(api as never, { id: "-100" }, poll, "Lunch?", {}, "$matrixpoll");
    const vote = {
      update_id: 9,
      poll_answer: { poll_id: "p1", user: { id: 5, first_name: "V" }, option_ids: [1] },
    };
    const events = polls.eventsOf(vote, 1);
    setTimeout(() => answer(sentPoll), 20);
    assert.equal((await sending)?.message_id, 41);
    const got = await events;
    assert.equal(got?.length, 1);
    assert.deepEqual((got![0] as { answers?: unknown }).answers, ["ans-1"]);
    // The vote names the Matrix poll it answers, so the core needs no message-map row for it.
    assert.equal((got![0] as { targetEvent?: unknown }).targetEvent, "$matrixpoll");
    // With nothing being sent, a poll the bridge does not know is skipped at once.
    assert.deepEqual(
      await polls.eventsOf({ ...vote, poll_answer: { ...vote.poll_answer, poll_id: "p9" } }, 1),
      [],
    );
  });

  it("Telegram's limits decide what goes out as a poll", () => {
    const p = (n: number, len = 5): OutboundPoll => ({
      question: "Q",
      answers: Array.from({ length: n }, (_, i) => ({ id: String(i), text: "x".repeat(len) })),
      maxSelections: 1,
      disclosed: true,
    });
    assert.equal(telegramPollFits(p(2), "Q"), true);
    assert.equal(telegramPollFits(p(12), "Q"), true);
    assert.equal(telegramPollFits(p(1), "Q"), false);
    assert.equal(telegramPollFits(p(13), "Q"), false);
    assert.equal(telegramPollFits(p(3, 101), "Q"), false);
    assert.equal(telegramPollFits(p(3), "q".repeat(301)), false);
  });

  it("fuzz: hostile poll_answer and poll objects never throw; a vote names only known answers", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.anything(),
          fc.record({
            poll_id: fc.string(),
            user: fc.oneof(
              fc.record({ id: fc.oneof(fc.integer(), fc.anything()), first_name: fc.anything() }),
              fc.anything(),
            ),
            option_ids: fc.oneof(
              fc.array(fc.oneof(fc.integer({ min: -2, max: 4 }), fc.anything())),
              fc.anything(),
            ),
            option_persistent_ids: fc.oneof(
              fc.array(fc.constantFrom("o-a", "o-b", "zz", "__proto__")),
              fc.anything(),
            ),
          }),
        ),
        fc.anything(),
        (answer, poll) => {
          const v = voteOf(answer, rec as PollRecord, 1);
          if (typeof v === "object") for (const a of v.answers) assert.ok(rec.answers.includes(a));
          const obj = typeof poll === "object" && poll !== null ? (poll as Record<string, unknown>) : {};
          endOf(obj, rec);
          pollRecordOf({ ...sentPoll, poll } as unknown as Message, { id: "1" });
        },
      ),
      fuzzParams(500),
    );
  });
});

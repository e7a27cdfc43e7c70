import assert from "node:assert/strict";
import { REST } from "discord.js";
import fc from "fast-check";
import {
  applyVote,
  DiscordPolls,
  discordPollData,
  pollFinalizedOf,
  readPoll,
  sentPollRecordOf,
  voteDispatchOf,
} from "../../../../bridges/discord/polls";
import type { OutboundMessage, OutboundPoll, RemoteEvent } from "../../../../src/core/connector";
import { Logger } from "../../../../src/log/Logger";
import { fuzzParams } from "../../../harness/fuzz";
import { sf } from "../../../standins/discord/DiscordServer";
import { startWorld } from "../../../standins/discord/harness";
import { userPoll } from "../../../standins/discord/polls";

const poll = (n: number, len = 4, question = "Q"): OutboundPoll => ({
  question,
  answers: Array.from({ length: n }, (_, i) => ({ id: `m${i}`, text: "x".repeat(len) })),
  maxSelections: 1,
  disclosed: true,
});

function memoryStore() {
  const kv = new Map<string, string>();
  return {
    kv,
    store: {
      query: async () => [],
      kvGet: async (k: string) => kv.get(k),
      kvSet: async (k: string, v: string) => void kv.set(k, v),
    },
  };
}

/** The bot's polls over `store`, what they emit pushed to `events`; the bot is user 100. */
function pollsOf(
  store: ConstructorParameters<typeof DiscordPolls>[0]["store"],
  events: RemoteEvent[],
): DiscordPolls {
  return new DiscordPolls({
    store,
    log: new Logger("test"),
    emit: async (ev) => void events.push(ev),
    chatOf: (id) => ({ id }),
    botId: () => "100",
  });
}

describe("Discord polls: limits, vote dispatches and ends", () => {
  it("a Matrix poll fits Discord's limits (1-10 answers of 55, question 300) or is none", () => {
    assert.deepEqual(discordPollData(poll(2), "Q"), {
      question: { text: "Q" },
      answers: [{ text: "xxxx" }, { text: "xxxx" }],
      duration: 768,
      allowMultiselect: false,
    });
    assert.equal(discordPollData({ ...poll(3), maxSelections: 2 }, "Q")?.allowMultiselect, true);
    assert.ok(discordPollData(poll(10), "Q"));
    assert.equal(discordPollData(poll(11), "Q"), undefined);
    assert.equal(discordPollData(poll(2, 56), "Q"), undefined);
    assert.equal(discordPollData(poll(2), "q".repeat(301)), undefined);
  });

  it("reads vote dispatches strictly and keeps each voter's whole choice", () => {
    const v = voteDispatchOf("MESSAGE_POLL_VOTE_ADD", {
      user_id: "1",
      channel_id: "2",
      message_id: "3",
      answer_id: 2,
    });
    assert.deepEqual(v, { remove: false, userId: "1", channelId: "2", messageId: "3", answerId: 2 });
    assert.equal(
      typeof voteDispatchOf("MESSAGE_POLL_VOTE_ADD", { user_id: "1", channel_id: "2", message_id: "3" }),
      "string",
    );
    assert.deepEqual(applyVote([3, 1], { remove: false, answerId: 2 }), [1, 2, 3]);
    assert.deepEqual(applyVote([1], { remove: true, answerId: 1 }), []);
    assert.deepEqual(
      pollFinalizedOf({
        id: "9",
        channel_id: "2",
        author: { id: "5" },
        poll: { results: { is_finalized: true } },
      }),
      {
        channelId: "2",
        messageId: "9",
        authorId: "5",
      },
    );
    assert.equal(
      pollFinalizedOf({ id: "9", channel_id: "2", poll: { results: { is_finalized: false } } }),
      undefined,
    );
  });

  it("a poll from Matrix reports votes by its Matrix answer ids; a Discord poll by Discord's", async () => {
    const { store } = memoryStore();
    const events: RemoteEvent[] = [];
    const polls = pollsOf(store, events);
    await polls.remember("30", poll(3), [1, 2, 3]);
    const vote = (message: string, answer: number, remove = false) =>
      polls.onDispatch({
        t: remove ? "MESSAGE_POLL_VOTE_REMOVE" : "MESSAGE_POLL_VOTE_ADD",
        d: { user_id: "7", channel_id: "2", message_id: message, answer_id: answer },
      });
    vote("30", 3);
    vote("30", 1);
    vote("30", 3, true);
    vote("31", 2);
    polls.onDispatch({
      t: "MESSAGE_UPDATE",
      d: { id: "30", channel_id: "2", author: { id: "100" }, poll: { results: { is_finalized: true } } },
    });
    await new Promise((r) => setTimeout(r, 20));
    const votes = events.filter((e) => e.kind === "poll-vote");
    assert.deepEqual(
      votes.map((e) => (e.kind === "poll-vote" ? [e.target, e.answers] : [])),
      [
        ["30", ["m2"]],
        ["30", ["m0", "m2"]],
        ["30", ["m0"]],
        ["31", ["2"]],
      ],
    );
    const end = events.find((e) => e.kind === "poll-end");
    assert.equal(end?.fromSelf, true, "the end of the bot's own poll is its own doing");
  });

  it("a vote dispatched before the answer to the poll's POST waits for the poll's record and names its Matrix event", async () => {
    const { store, kv } = memoryStore();
    const events: RemoteEvent[] = [];
    const polls = pollsOf(store, events);
    let answer!: () => void;
    const answered = new Promise<void>((r) => (answer = r));
    const sender = {
      sendPoll: async () => {
        await answered;
        return {
          id: "40",
          channelId: "2",
          createdTimestamp: 5,
          poll: {
            answers: new Map([
              [1, {}],
              [2, {}],
            ]),
          },
        };
      },
    };
    const msg = {
      eventId: "$matrixpoll",
      sender: { userId: "@alice:hs", displayName: "alice" },
      poll: poll(2),
    } as unknown as OutboundMessage;
    const sending = polls.send(sender as never, { id: "2" }, msg);
    polls.onDispatch({
      t: "MESSAGE_POLL_VOTE_ADD",
      d: { user_id: "7", channel_id: "2", message_id: "40", answer_id: 2 },
    });
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(events.length, 0, "the vote waits while its poll is being sent");
    answer();
    assert.deepEqual(await sending, { ids: ["40"], timestamp: 5 });
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(events.length, 1);
    const vote = events[0]!;
    assert.ok(vote.kind === "poll-vote");
    assert.deepEqual(vote.answers, ["m1"]);
    // The core needs no message-map row for it: the vote names the Matrix poll.
    assert.equal(vote.targetEvent, "$matrixpoll");
    assert.deepEqual(JSON.parse(kv.get("poll:40")!), {
      answers: { "1": "m0", "2": "m1" },
      event: "$matrixpoll",
    });
    // With nothing being sent, a vote in a poll the bridge never sent goes at once, by Discord's ids.
    polls.onDispatch({
      t: "MESSAGE_POLL_VOTE_ADD",
      d: { user_id: "7", channel_id: "2", message_id: "41", answer_id: 1 },
    });
    await new Promise((r) => setTimeout(r, 20));
    const other = events[1];
    assert.ok(other?.kind === "poll-vote");
    assert.deepEqual(other.answers, ["1"]);
    assert.equal(other.targetEvent, undefined);
  });

  it("a poll whose send failed lets the votes that waited for it go on", async () => {
    const { store } = memoryStore();
    const events: RemoteEvent[] = [];
    const polls = pollsOf(store, events);
    let fail!: (err: Error) => void;
    const sender = { sendPoll: () => new Promise((_, reject) => (fail = reject)) };
    const msg = { sender: { displayName: "a" }, poll: poll(2) } as unknown as OutboundMessage;
    const sending = polls.send(sender as never, { id: "2" }, msg);
    polls.onDispatch({
      t: "MESSAGE_POLL_VOTE_ADD",
      d: { user_id: "7", channel_id: "2", message_id: "50", answer_id: 1 },
    });
    fail(new Error("503"));
    await assert.rejects(sending, /503/);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(events.length, 1);
    assert.ok(events[0]?.kind === "poll-vote");
    assert.deepEqual(events[0].answers, ["1"]);
  });

  it("the catch-up after the bridge was away: one vote per voter whose choice changed, an end for a poll that ended; nothing twice", async () => {
    const { store } = memoryStore();
    const events: RemoteEvent[] = [];
    const options = {
      store,
      log: new Logger("test"),
      emit: async (ev: RemoteEvent) => void events.push(ev),
      chatOf: (id: string) => ({ id }),
      botId: () => "100",
    };
    const before = new DiscordPolls(options);
    await before.remember("30", poll(3), [1, 2, 3], "$matrixpoll");
    const dispatch = (polls: DiscordPolls, user: string, message: string, answer: number, remove = false) =>
      polls.onDispatch({
        t: remove ? "MESSAGE_POLL_VOTE_REMOVE" : "MESSAGE_POLL_VOTE_ADD",
        d: { user_id: user, channel_id: "2", message_id: message, answer_id: answer },
      });
    dispatch(before, "7", "30", 1);
    dispatch(before, "8", "30", 2);
    dispatch(before, "9", "30", 3);
    dispatch(before, "7", "31", 2);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(events.length, 4);
    events.length = 0;
    // Meanwhile on Discord: 7 added answer 3, 8 took theirs back, 9 left theirs, 10 voted;
    // poll 31 ended; poll 32 could not be read.
    const reads: string[] = [];
    const after = new DiscordPolls({
      ...options,
      readPoll: async (_channel, message) => {
        reads.push(message);
        if (message === "30")
          return {
            finalized: false,
            authorId: "100",
            voters: new Map([
              ["7", [1, 3]],
              ["9", [3]],
              ["10", [2]],
            ]),
          };
        if (message === "31") return { finalized: true, authorId: "5", voters: new Map([["7", [2]]]) };
        throw new Error("503");
      },
    });
    dispatch(after, "7", "32", 1); // a poll the next read fails for
    await new Promise((r) => setTimeout(r, 20));
    events.length = 0;
    after.catchUp();
    // A live dispatch after the catch-up, for what it read already: no second vote.
    dispatch(after, "10", "30", 2);
    await new Promise((r) => setTimeout(r, 30));
    assert.deepEqual(reads, ["30", "31", "32"]);
    assert.deepEqual(
      events.map((e) =>
        e.kind === "poll-vote"
          ? [e.target, e.sender.id, e.answers, e.targetEvent]
          : [e.kind, e.kind === "poll-end" ? e.target : ""],
      ),
      [
        ["30", "7", ["m0", "m2"], "$matrixpoll"],
        ["30", "8", [], "$matrixpoll"],
        ["30", "10", ["m1"], "$matrixpoll"],
        ["poll-end", "31"],
      ],
    );
    // The ended poll is read no more; the others are.
    reads.length = 0;
    after.catchUp();
    await new Promise((r) => setTimeout(r, 30));
    assert.deepEqual(reads, ["30", "32"]);
    assert.equal(events.length, 4, "a second catch-up with nothing new emits nothing");
  });

  it("a stored poll record is read leniently: the bare answer map of earlier versions, junk as none", () => {
    assert.deepEqual(sentPollRecordOf(JSON.stringify({ "1": "m0", "2": "m1" })), {
      answers: { "1": "m0", "2": "m1" },
    });
    assert.deepEqual(sentPollRecordOf(JSON.stringify({ answers: { "1": "a" }, event: "$e" })), {
      answers: { "1": "a" },
      event: "$e",
    });
    assert.deepEqual(
      sentPollRecordOf(JSON.stringify({ answers: { "1": 4, __proto__x: "b", "2": "b" }, event: "no $" })),
      { answers: { "2": "b" } },
    );
    for (const raw of [undefined, "", "{", "[]", "null", "7"]) assert.equal(sentPollRecordOf(raw), undefined);
  });

  it("fuzz: hostile dispatches never throw; others' events still go through", async () => {
    const { store, kv } = memoryStore();
    const events: RemoteEvent[] = [];
    const polls = pollsOf(store, events);
    fc.assert(
      fc.property(
        fc.oneof(
          fc.anything(),
          fc.record({
            t: fc.constantFrom(
              "MESSAGE_POLL_VOTE_ADD",
              "MESSAGE_POLL_VOTE_REMOVE",
              "MESSAGE_UPDATE",
              "MESSAGE_CREATE",
              "X",
            ),
            d: fc.oneof(
              fc.anything(),
              fc.record({
                user_id: fc.oneof(fc.string(), fc.anything()),
                channel_id: fc.oneof(fc.constant("2"), fc.anything()),
                message_id: fc.oneof(fc.constant("30"), fc.string()),
                answer_id: fc.oneof(fc.integer(), fc.anything()),
                id: fc.oneof(fc.constant("31"), fc.anything()),
                poll: fc.oneof(fc.constant({}), fc.anything()),
              }),
            ),
          }),
        ),
        (packet) => {
          polls.onDispatch(packet);
          const v = voteDispatchOf((packet as { t?: unknown })?.t, (packet as { d?: unknown })?.d);
          if (typeof v === "object") assert.ok(/^\d+$/.test(v.userId) && v.answerId >= 1);
        },
      ),
      fuzzParams(500),
    );
    polls.onDispatch({
      t: "MESSAGE_POLL_VOTE_ADD",
      d: { user_id: "8", channel_id: "2", message_id: "77", answer_id: 1 },
    });
    polls.onDispatch({ t: "MESSAGE_CREATE", d: { id: "31", channel_id: "2", poll: {} } });
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(events.some((e) => e.kind === "poll-vote" && e.target === "77" && e.sender.id === "8"));
    for (const e of events)
      if (e.kind === "poll-vote") for (const a of e.answers) assert.equal(typeof a, "string");
    // New polls were tracked for the catch-up, and nothing but snowflakes.
    const tracked = JSON.parse(kv.get("polls:tracked") ?? "[]") as Array<Record<string, unknown>>;
    assert.ok(tracked.some((p) => p.message === "31"));
    for (const p of tracked) assert.ok(/^\d+$/.test(String(p.message)) && /^\d+$/.test(String(p.channel)));
  });

  it("readPoll reads every voter of every answer page by page (discord.js REST ↔ the stand-in); a message gone or without a poll is none", async () => {
    const { server, ids } = await startWorld();
    try {
      const rest = new REST({ api: server.api }).setToken(server.token);
      const msg = server.postMessage(ids.random, ids.alice, "", {
        poll: userPoll("Many voters?", ["One", "Two"], true),
      });
      const messageId = String(msg.id);
      // More voters than one page of 100, some of them for both answers.
      const voters = Array.from({ length: 230 }, (_, i) => {
        const id = sf();
        server.addUser({ id, username: `voter${i}` });
        server.vote({ channelId: ids.random, messageId, userId: id, answerId: 1 });
        if (i % 3 === 0) server.vote({ channelId: ids.random, messageId, userId: id, answerId: 2 });
        return id;
      });
      const now = await readPoll(rest, ids.random, messageId);
      assert.equal(now?.finalized, false);
      assert.equal(now?.authorId, ids.alice);
      assert.equal(now?.voters.size, 230);
      for (const [i, id] of voters.entries())
        assert.deepEqual(now?.voters.get(id), i % 3 === 0 ? [1, 2] : [1]);
      server.endPoll(ids.random, messageId);
      assert.equal((await readPoll(rest, ids.random, messageId))?.finalized, true);
      const text = server.postMessage(ids.random, ids.alice, "no poll here");
      assert.equal(await readPoll(rest, ids.random, String(text.id)), undefined);
      assert.equal(await readPoll(rest, ids.random, sf()), undefined);
    } finally {
      await server.close();
    }
  });
});

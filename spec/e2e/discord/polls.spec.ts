import assert from "node:assert/strict";
import type { MatrixEvent, MatrixTestClient } from "../../harness/MatrixTestClient";
import type { DiscordServer } from "../../standins/discord/DiscordServer";
import { discordSection, startWorld, until, type WorldIds } from "../../standins/discord/harness";
import { DIRECT_MESSAGE_POLLS, GUILD_MESSAGE_POLLS, userPoll } from "../../standins/discord/polls";
import { type CoreRig, portalRoomFor, startCoreRig, user } from "../core/coreRig";

const dcGhost = (id: string) => `@_discord_${id}:localhost`;
const POLL_START = "org.matrix.msc3381.poll.start";
const POLL_RESPONSE = "org.matrix.msc3381.poll.response";
const POLL_END = "org.matrix.msc3381.poll.end";
const TEXT = "org.matrix.msc1767.text";

const pollContent = (question: string, answers: string[], max = 1): Record<string, unknown> => ({
  [POLL_START]: {
    question: { [TEXT]: question },
    kind: "org.matrix.msc3381.poll.disclosed",
    max_selections: max,
    answers: answers.map((a, i) => ({ id: `m-${i}`, [TEXT]: a })),
  },
  [TEXT]: question,
  body: question,
});
const refersTo = (e: MatrixEvent, id: string): boolean =>
  (e.content["m.relates_to"] as { event_id?: string } | undefined)?.event_id === id;
const answersOf = (e: MatrixEvent): unknown =>
  (e.content[POLL_RESPONSE] as { answers?: unknown } | undefined)?.answers;

describe("Discord polls both ways end to end (discord.js ↔ Discord stand-in, real Synapse)", function () {
  this.timeout(120_000);
  let dc: DiscordServer;
  let ids: WorldIds;
  let core: CoreRig;
  let alice: MatrixTestClient;
  let room: string;
  const inRoom =
    (p: (e: MatrixEvent) => boolean) =>
    (e: MatrixEvent): boolean =>
      e.room_id === room && p(e);
  /** The bridge's POST of a poll to the channel, among the stand-in's calls from index `n` on. */
  const pollPostedSince =
    (n: number) =>
    (c: DiscordServer["calls"][number]): boolean =>
      dc.calls.indexOf(c) >= n &&
      c.method === "POST" &&
      c.path === `/channels/${ids.random}/messages` &&
      c.body.json.poll !== undefined;

  before(async () => {
    ({ server: dc, ids } = await startWorld());
    core = await startCoreRig({ platforms: { discord: discordSection(dc, [ids.guild]) } });
    alice = await user("alice");
    await until(() => dc.liveSessions() === 1, 60_000, "the bridge's gateway session");
    await new Promise((r) => setTimeout(r, 1000));
    dc.postMessage(ids.random, ids.alice, "polls start");
    room = await portalRoomFor(alice, ids.random, "discord");
    await alice.waitFor(inRoom((e) => e.content.body === "polls start"));
  });
  after(async () => {
    await core?.stop();
    await dc?.close();
  });

  it("the bridge asks for the poll intents", () => {
    const identify = dc.gatewayOps.filter((o) => o.op === 2).at(-1);
    const intents = Number(identify?.d.intents);
    assert.ok(intents & GUILD_MESSAGE_POLLS && intents & DIRECT_MESSAGE_POLLS);
  });

  let start: string;
  let messageId: string;

  it("a Matrix poll goes out as a native Discord poll posted by the bot", async () => {
    const n = dc.calls.length;
    start = await alice.sendEvent(room, POLL_START, pollContent("Pick a day", ["Mon", "Tue", "Wed"], 2));
    const call = await dc.waitFor(pollPostedSince(n));
    assert.equal(call.status, 200);
    const poll = call.body.json.poll as Record<string, unknown>;
    assert.deepEqual(poll.question, { text: "alice: Pick a day" });
    assert.deepEqual(
      (poll.answers as Array<{ poll_media: { text: string } }>).map((a) => a.poll_media.text),
      ["Mon", "Tue", "Wed"],
    );
    assert.equal(poll.allow_multiselect, true);
    assert.ok(
      Number.isInteger(poll.duration) && (poll.duration as number) >= 1 && (poll.duration as number) <= 768,
    );
    messageId = String((call.response as { id: string }).id);
  });

  it("votes added and removed on Discord arrive as the voter's whole choice, from their ghost", async () => {
    dc.vote({ channelId: ids.random, messageId, userId: ids.bob, answerId: 1 });
    const one = await alice.waitFor(inRoom((e) => e.type === POLL_RESPONSE && refersTo(e, start)));
    assert.equal(one.sender, dcGhost(ids.bob));
    assert.deepEqual(one.content["m.relates_to"], { rel_type: "m.reference", event_id: start });
    assert.deepEqual(answersOf(one), ["m-0"]);
    dc.vote({ channelId: ids.random, messageId, userId: ids.bob, answerId: 3 });
    await alice.waitFor(
      inRoom(
        (e) => e.type === POLL_RESPONSE && JSON.stringify(answersOf(e)) === JSON.stringify(["m-0", "m-2"]),
      ),
    );
    dc.vote({ channelId: ids.random, messageId, userId: ids.bob, answerId: 1, remove: true });
    await alice.waitFor(
      inRoom((e) => e.type === POLL_RESPONSE && JSON.stringify(answersOf(e)) === JSON.stringify(["m-2"])),
    );
    dc.vote({ channelId: ids.random, messageId, userId: ids.bob, answerId: 3, remove: true });
    const none = await alice.waitFor(
      inRoom((e) => e.type === POLL_RESPONSE && JSON.stringify(answersOf(e)) === JSON.stringify([])),
    );
    assert.equal(none.sender, dcGhost(ids.bob));
  });

  it("the creator's poll end in Matrix ends the Discord poll at once, with nothing echoed back", async () => {
    const n = dc.calls.length;
    const end = await alice.sendEvent(room, POLL_END, {
      "m.relates_to": { rel_type: "m.reference", event_id: start },
      [POLL_END]: {},
      [TEXT]: "Ended",
      body: "Ended",
    });
    const call = await dc.waitFor(
      (c) =>
        dc.calls.indexOf(c) >= n &&
        c.method === "POST" &&
        c.path === `/channels/${ids.random}/polls/${messageId}/expire`,
    );
    assert.equal(call.status, 200);
    const stored = dc.message(ids.random, messageId) as { poll: { results: { is_finalized: boolean } } };
    const results = stored.poll.results;
    assert.equal(results.is_finalized, true);
    dc.postMessage(ids.random, ids.alice, "after the expiry");
    await alice.waitFor(inRoom((e) => e.content.body === "after the expiry"));
    const ends = (await alice.messages(room, { limit: 30 })).filter((e) => e.type === POLL_END);
    assert.deepEqual(
      ends.map((e) => e.event_id),
      [end],
    );
  });

  it("a Matrix poll over Discord's limits (11 answers) goes out as text", async () => {
    const n = dc.calls.length;
    const answers = Array.from({ length: 11 }, (_, i) => `Choice ${i + 1}`);
    await alice.sendEvent(room, POLL_START, pollContent("Too many", answers));
    const call = await dc.waitFor(
      (c) =>
        dc.calls.indexOf(c) >= n &&
        c.method === "POST" &&
        String(c.body.json.content ?? "").includes("Poll: Too many"),
    );
    assert.equal(call.status, 200);
    assert.equal(call.body.json.poll, undefined);
  });

  it("a Discord user's poll: votes by Discord's answer ids, its end from the creator's ghost", async () => {
    const msg = dc.postMessage(ids.random, ids.alice, "", {
      poll: userPoll("Cats or dogs?", ["Cats", "Dogs"]),
    });
    const startEv = await alice.waitFor(
      inRoom((e) => e.type === POLL_START && e.sender === dcGhost(ids.alice)),
    );
    dc.vote({ channelId: ids.random, messageId: String(msg.id), userId: ids.bob, answerId: 2 });
    const vote = await alice.waitFor(
      inRoom((e) => e.type === POLL_RESPONSE && refersTo(e, startEv.event_id!)),
    );
    assert.deepEqual(answersOf(vote), ["2"]);
    dc.endPoll(ids.random, String(msg.id));
    const end = await alice.waitFor(inRoom((e) => e.type === POLL_END && refersTo(e, startEv.event_id!)));
    assert.equal(end.sender, dcGhost(ids.alice));
  });

  /** A Matrix poll whose POST gets `act` between being carried out and answered (or just after). */
  async function pollWithVoteMeanwhile(
    question: string,
    when: "before" | "after",
    act: (messageId: string) => void | Promise<void>,
  ): Promise<{ start: string; messageId: string }> {
    const n = dc.calls.length;
    let messageId = "";
    const acted = dc.meanwhile(
      pollPostedSince(n),
      async (_c, answer) => {
        messageId = String((answer as { id: string }).id);
        await act(messageId);
      },
      { when },
    );
    const start = await alice.sendEvent(room, POLL_START, pollContent(question, ["Yes", "No"]));
    await acted;
    return { start, messageId };
  }

  /** The poll responses to `start` in the room, oldest first, once a marker posted after them is in. */
  async function responsesTo(start: string, marker: string): Promise<MatrixEvent[]> {
    dc.postMessage(ids.random, ids.alice, marker);
    await alice.waitFor(inRoom((e) => e.content.body === marker));
    return (await alice.messages(room, { limit: 60 }))
      .filter((e) => e.type === POLL_RESPONSE && refersTo(e, start))
      .reverse();
  }

  it("a vote Discord dispatches before it answers the poll's POST arrives once, by the Matrix answer ids", async () => {
    const { start } = await pollWithVoteMeanwhile("Early bird?", "before", async (messageId) => {
      dc.vote({ channelId: ids.random, messageId, userId: ids.bob, answerId: 2 });
      // A message after the vote on the same gateway connection: once it is in Matrix, the
      // bridge has read the vote, and the POST is still unanswered.
      dc.postMessage(ids.random, ids.alice, "past the early vote");
      await alice.waitFor(inRoom((e) => e.content.body === "past the early vote"));
    });
    const vote = await alice.waitFor(inRoom((e) => e.type === POLL_RESPONSE && refersTo(e, start)));
    assert.equal(vote.sender, dcGhost(ids.bob));
    assert.deepEqual(answersOf(vote), ["m-1"]);
    const all = await responsesTo(start, "after the early vote");
    assert.deepEqual(
      all.map((e) => e.event_id),
      [vote.event_id],
    );
  });

  it("votes dispatched the moment the poll's POST is answered arrive once each, in order, by the Matrix answer ids", async () => {
    const { start } = await pollWithVoteMeanwhile("Quick one?", "after", (messageId) => {
      dc.vote({ channelId: ids.random, messageId, userId: ids.bob, answerId: 1 });
      dc.vote({ channelId: ids.random, messageId, userId: ids.alice, answerId: 2 });
    });
    await alice.waitFor(
      inRoom((e) => e.type === POLL_RESPONSE && refersTo(e, start) && e.sender === dcGhost(ids.alice)),
    );
    const all = await responsesTo(start, "after the quick votes");
    assert.deepEqual(
      all.map((e) => [e.sender, answersOf(e)]),
      [
        [dcGhost(ids.bob), ["m-0"]],
        [dcGhost(ids.alice), ["m-1"]],
      ],
    );
  });

  it("votes cast and a poll ended while the bridge is killed (SIGKILL) are read again after the restart: each changed choice once, whole, and the end", async () => {
    // A poll from Matrix with a vote already bridged, and a Discord user's poll.
    const n = dc.calls.length;
    const start = await alice.sendEvent(room, POLL_START, pollContent("Down time?", ["A", "B", "C"], 2));
    const call = await dc.waitFor(pollPostedSince(n));
    const messageId = String((call.response as { id: string }).id);
    dc.vote({ channelId: ids.random, messageId, userId: ids.bob, answerId: 1 });
    await alice.waitFor(inRoom((e) => e.type === POLL_RESPONSE && refersTo(e, start)));
    const theirs = dc.postMessage(ids.random, ids.alice, "", {
      poll: userPoll("Ends while down?", ["Yes", "No"]),
    });
    const theirStart = await alice.waitFor(
      inRoom((e) => e.type === POLL_START && JSON.stringify(e.content).includes("Ends while down?")),
    );
    await core.restart("SIGKILL", () => {
      // Dispatched to the killed bridge's session: a new session gets none of them.
      dc.vote({ channelId: ids.random, messageId, userId: ids.bob, answerId: 3 });
      dc.vote({ channelId: ids.random, messageId, userId: ids.bob, answerId: 1, remove: true });
      dc.vote({ channelId: ids.random, messageId, userId: ids.alice, answerId: 2 });
      dc.vote({ channelId: ids.random, messageId: String(theirs.id), userId: ids.bob, answerId: 2 });
      dc.endPoll(ids.random, String(theirs.id));
    });
    const end = await alice.waitFor(
      inRoom((e) => e.type === POLL_END && refersTo(e, theirStart.event_id!)),
      { timeoutMs: 60_000 },
    );
    assert.equal(end.sender, dcGhost(ids.alice));
    const mine = await responsesTo(start, "after the catch-up of votes");
    assert.deepEqual(mine[0] && [mine[0].sender, answersOf(mine[0])], [dcGhost(ids.bob), ["m-0"]]);
    assert.deepEqual(
      mine
        .slice(1)
        .map((e) => [e.sender, answersOf(e)])
        .sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
      [
        [dcGhost(ids.alice), ["m-1"]],
        [dcGhost(ids.bob), ["m-2"]],
      ].sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
    );
    const theirVotes = (await alice.messages(room, { limit: 60 })).filter(
      (e) => e.type === POLL_RESPONSE && refersTo(e, theirStart.event_id!),
    );
    assert.deepEqual(
      theirVotes.map((e) => [e.sender, answersOf(e)]),
      [[dcGhost(ids.bob), ["2"]]],
    );
  });

  it("malformed vote dispatches are dropped; the next message still arrives", async () => {
    dc.dispatch("MESSAGE_POLL_VOTE_ADD", {
      user_id: "x",
      channel_id: ids.random,
      message_id: "1",
      answer_id: 1,
    });
    dc.dispatch("MESSAGE_POLL_VOTE_ADD", {
      user_id: ids.bob,
      channel_id: ids.random,
      message_id: "1",
      answer_id: -4,
    });
    dc.dispatch("MESSAGE_POLL_VOTE_REMOVE", {});
    dc.dispatch("MESSAGE_UPDATE", {
      id: "1",
      channel_id: ids.random,
      poll: { results: { is_finalized: true } },
    });
    dc.postMessage(ids.random, ids.alice, "after the junk");
    await alice.waitFor(inRoom((e) => e.content.body === "after the junk"));
  });
});

import assert from "node:assert/strict";
import fc from "fast-check";
import type { RemotePollEnd, RemotePollVote } from "../../../src/core/connector";
import {
  cleanAnswers,
  deliverPollEvent,
  outboundPollOf,
  pollEndContent,
  pollReferenceOf,
  pollResponseContent,
  relayPollEvent,
} from "../../../src/core/polls";
import type { RoomEvent } from "../../../src/matrix/MatrixApi";
import type { MessageRow, Portal } from "../../../src/store/types";
import { fuzzParams } from "../../harness/fuzz";

const TEXT = "org.matrix.msc1767.text";

describe("polls: Matrix poll events past the start", () => {
  it("reads an MSC3381 poll start and the stable form, in order, without broken answers", () => {
    const poll = outboundPollOf({
      "org.matrix.msc3381.poll.start": {
        question: { [TEXT]: " Lunch? " },
        kind: "org.matrix.msc3381.poll.undisclosed",
        max_selections: 5,
        answers: [
          { id: "a", [TEXT]: "Pizza" },
          { id: "a", [TEXT]: "Twice" },
          { id: 7, [TEXT]: "Not a string id" },
          { id: "b", [TEXT]: "   " },
          { id: "c", [TEXT]: "Soup" },
        ],
      },
    });
    assert.deepEqual(poll, {
      question: "Lunch?",
      answers: [
        { id: "a", text: "Pizza" },
        { id: "c", text: "Soup" },
      ],
      maxSelections: 2,
      disclosed: false,
    });
    const stable = outboundPollOf({
      "m.poll": {
        question: { "m.text": [{ mimetype: "text/html", body: "<b>Tea?</b>" }, { body: "Tea?" }] },
        answers: [{ "m.id": "y", "m.text": [{ body: "Yes" }] }],
      },
    });
    assert.deepEqual(stable, {
      question: "Tea?",
      answers: [{ id: "y", text: "Yes" }],
      maxSelections: 1,
      disclosed: true,
    });
    assert.equal(outboundPollOf({ "m.poll": { question: "", answers: [] } }), undefined);
    assert.equal(outboundPollOf(null), undefined);
  });

  it("builds responses and ends referring to the start; reads the reference back", () => {
    const r = pollResponseContent("$start", ["x"]);
    assert.deepEqual(r["m.relates_to"], { rel_type: "m.reference", event_id: "$start" });
    assert.deepEqual(r["org.matrix.msc3381.poll.response"], { answers: ["x"] });
    const e = pollEndContent("$start");
    assert.equal(pollReferenceOf(e), "$start");
    assert.equal(typeof e.body, "string");
    assert.equal(pollReferenceOf({ "m.relates_to": { rel_type: "m.replace", event_id: "$x" } }), undefined);
    assert.deepEqual(cleanAnswers(["a", "a", 3, "", "b", null]), ["a", "b"]);
  });

  it("fuzz: any content is read without throwing; what is read keeps the limits", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.object({ maxDepth: 5 }),
          fc.record({
            "org.matrix.msc3381.poll.start": fc.record({
              question: fc.oneof(fc.string(), fc.record({ [TEXT]: fc.string() }), fc.anything()),
              max_selections: fc.anything(),
              answers: fc.array(
                fc.record({
                  id: fc.oneof(fc.string(), fc.anything()),
                  [TEXT]: fc.oneof(fc.string(), fc.anything()),
                }),
              ),
            }),
          }),
        ),
        (content) => {
          const p = outboundPollOf(content);
          pollReferenceOf(content);
          cleanAnswers((content as Record<string, unknown>).answers);
          if (!p) return;
          assert.ok(p.question.length > 0 && p.question.length <= 1000);
          assert.ok(p.answers.length >= 1 && p.answers.length <= 20);
          assert.ok(p.maxSelections >= 1 && p.maxSelections <= p.answers.length);
          assert.equal(new Set(p.answers.map((a) => a.id)).size, p.answers.length);
        },
      ),
      fuzzParams(500),
    );
  });

  describe("deliverPollEvent", () => {
    const portal = { platform: "telegram", chatId: "-100", roomId: "!r:hs" } as Portal;
    const row = (senderMxid: string): MessageRow =>
      ({ eventId: "$start", senderMxid, roomId: "!r:hs" }) as MessageRow;
    function deps(rows: MessageRow[]) {
      const sent: Array<{ as: string; type: string; content: Record<string, unknown> }> = [];
      const intent = (as: string) => ({
        userId: as,
        sendEvent: async (_room: string, type: string, content: Record<string, unknown>) => {
          sent.push({ as, type, content });
          return "$new";
        },
      });
      return {
        sent,
        deps: {
          rowsHere: async () => rows,
          ghost: async () => intent("@voter:hs") as never,
          isGhost: (mxid: string, platform: string) => mxid.startsWith(`@_${platform}_`),
          intentOf: (mxid: string) => intent(mxid) as never,
          txnId: (...parts: Array<string | number>) => parts.join("|"),
        },
      };
    }
    const base = { chat: { id: "-100" }, sender: { id: "5" }, timestamp: 1 };

    it("a vote becomes the voter's response; a vote for an unknown poll is dropped", async () => {
      const d = deps([row("@alice:hs")]);
      await deliverPollEvent(
        portal,
        { ...base, kind: "poll-vote", target: "9", answers: ["a", "a", "b"] },
        d.deps,
      );
      assert.deepEqual(d.sent, [
        {
          as: "@voter:hs",
          type: "org.matrix.msc3381.poll.response",
          content: pollResponseContent("$start", ["a", "b"]),
        },
      ]);
      const none = deps([]);
      await deliverPollEvent(portal, { ...base, kind: "poll-vote", target: "9", answers: [] }, none.deps);
      assert.equal(none.sent.length, 0);
    });

    it("a vote that comes before the poll's message-map row goes to the event the connector names", async () => {
      const early = deps([]);
      await deliverPollEvent(
        portal,
        { ...base, kind: "poll-vote", target: "9", answers: ["b"], targetEvent: "$matrixpoll" },
        early.deps,
      );
      assert.deepEqual(
        early.sent.map((x) => x.content),
        [pollResponseContent("$matrixpoll", ["b"])],
      );
      // The map wins when it has the row; a named event that is no event id is not used.
      const mapped = deps([row("@alice:hs")]);
      await deliverPollEvent(
        portal,
        { ...base, kind: "poll-vote", target: "9", answers: ["b"], targetEvent: "$other" },
        mapped.deps,
      );
      assert.deepEqual(
        mapped.sent.map((x) => x.content),
        [pollResponseContent("$start", ["b"])],
      );
      for (const bad of ["", "start", "$", "$with space", 42])
        await deliverPollEvent(
          portal,
          { ...base, kind: "poll-vote", target: "9", answers: ["b"], targetEvent: bad as string },
          early.deps,
        );
      assert.equal(early.sent.length, 1);
      // An end needs the map: who created the poll decides who may end it.
      await deliverPollEvent(portal, { ...base, kind: "poll-end", target: "9" }, early.deps);
      assert.equal(early.sent.length, 1);
    });

    it("two alike votes (same voter, choice and millisecond) are two sends; a retry of one keeps its transaction id", async () => {
      const txns: string[] = [];
      const d = deps([row("@alice:hs")]);
      const vote = { ...base, kind: "poll-vote" as const, target: "9", answers: ["a"] };
      const send = (eventKey: string) =>
        deliverPollEvent(portal, vote, {
          ...d.deps,
          eventKey,
          ghost: async () =>
            ({
              sendEvent: async (_r: string, _t: string, _c: unknown, txn: string) => {
                txns.push(txn);
                return "$new";
              },
            }) as never,
        });
      await send("41");
      await send("43");
      await send("41");
      assert.equal(txns.length, 3);
      assert.notEqual(txns[0], txns[1], "a second vote alike is not taken for a repeat");
      assert.equal(txns[2], txns[0], "a retry of one vote is the same transaction");
    });

    it("an end is sent by the creator's ghost, and not for a poll created in Matrix", async () => {
      const ghost = deps([row("@_telegram_5:hs")]);
      await deliverPollEvent(portal, { ...base, kind: "poll-end", target: "9" }, ghost.deps);
      assert.equal(ghost.sent[0]?.as, "@_telegram_5:hs");
      assert.equal(ghost.sent[0]?.type, "org.matrix.msc3381.poll.end");
      const matrix = deps([row("@alice:hs")]);
      await deliverPollEvent(portal, { ...base, kind: "poll-end", target: "9" }, matrix.deps);
      assert.equal(matrix.sent.length, 0);
    });

    it("fuzz: hostile vote and end events never throw; what is sent is well-formed", async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.record({
            kind: fc.constantFrom("poll-vote", "poll-end"),
            target: fc.oneof(fc.string(), fc.anything()),
            answers: fc.oneof(fc.array(fc.oneof(fc.string(), fc.anything())), fc.anything()),
            timestamp: fc.anything(),
          }),
          async (ev) => {
            const d = deps([row("@_telegram_5:hs")]);
            await deliverPollEvent(
              portal,
              { ...base, ...ev } as unknown as RemotePollVote | RemotePollEnd,
              d.deps,
            );
            for (const s of d.sent) {
              assert.equal(pollReferenceOf(s.content), "$start");
              const answers = (
                s.content["org.matrix.msc3381.poll.response"] as { answers?: unknown } | undefined
              )?.answers;
              if (answers !== undefined) assert.deepEqual(cleanAnswers(answers), answers);
            }
          },
        ),
        fuzzParams(300),
      );
    });
  });

  describe("relayPollEvent", () => {
    const row = { eventId: "$start", senderMxid: "@alice:hs", remoteId: "77" } as MessageRow;
    const ev = (type: string, content: Record<string, unknown>, sender = "@alice:hs"): RoomEvent =>
      ({ type, content, sender, room_id: "!r:hs", event_id: "$ev", origin_server_ts: 1 }) as RoomEvent;
    function client() {
      const calls: unknown[][] = [];
      return {
        calls,
        c: {
          endPoll: async (...a: unknown[]) => void calls.push(["end", ...a]),
          votePoll: async (...a: unknown[]) => void calls.push(["vote", ...a]),
        } as never,
      };
    }
    const deps = {
      rowOf: async () => row,
      sender: async () => ({ mxid: "@alice:hs", displayName: "alice" }),
    };
    const ref = { "m.relates_to": { rel_type: "m.reference", event_id: "$start" } };

    it("the creator's end closes the platform poll; anyone else's stays in Matrix", async () => {
      const a = client();
      await relayPollEvent(a.c, { id: "c" }, ev("org.matrix.msc3381.poll.end", ref), deps);
      assert.deepEqual(a.calls, [["end", { id: "c" }, "77"]]);
      const b = client();
      await relayPollEvent(b.c, { id: "c" }, ev("m.poll.end", ref, "@mallory:hs"), deps);
      assert.deepEqual(b.calls, []);
    });

    it("a vote goes to a connector that takes votes, with the whole choice", async () => {
      const a = client();
      const content = { ...ref, "org.matrix.msc3381.poll.response": { answers: ["x", "x", "y"] } };
      await relayPollEvent(a.c, { id: "c" }, ev("org.matrix.msc3381.poll.response", content), deps);
      assert.equal(a.calls.length, 1);
      assert.deepEqual((a.calls[0]![2] as { answers: string[] }).answers, ["x", "y"]);
      await relayPollEvent({} as never, { id: "c" }, ev("org.matrix.msc3381.poll.response", content), deps);
    });

    it("fuzz: hostile end and response content never throws", async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(
            "org.matrix.msc3381.poll.end",
            "m.poll.end",
            "org.matrix.msc3381.poll.response",
            "m.poll.response",
          ),
          fc.oneof(
            fc.object({ maxDepth: 4 }),
            fc.record({ "m.relates_to": fc.anything(), "m.selections": fc.anything() }),
          ),
          async (type, content) => {
            const a = client();
            await relayPollEvent(a.c, { id: "c" }, ev(type, content as Record<string, unknown>), deps);
            for (const call of a.calls)
              if (call[0] === "vote") assert.ok(Array.isArray((call[2] as { answers: unknown }).answers));
          },
        ),
        fuzzParams(300),
      );
    });
  });
});

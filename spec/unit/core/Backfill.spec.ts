import { strict as assert } from "node:assert";
import fc from "fast-check";
import { acceptHistory } from "../../../src/core/Backfill";
import type { RemoteMessage } from "../../../src/core/connector";
import { fuzzParams } from "../../harness/fuzz";

const msg = (id: string, extra: Partial<RemoteMessage> = {}): RemoteMessage => ({
  kind: "message",
  chat: { id: "c1" },
  sender: { id: "u1" },
  timestamp: 1_700_000_000_000,
  id,
  text: `text ${id}`,
  ...extra,
});

describe("acceptHistory (a connector's history answer at the core's edge)", () => {
  it("keeps this chat's well-formed messages, each id once, the newest `limit`, in the order given", () => {
    const answer = [
      msg("1"),
      msg("2", { chat: { id: "other" } }),
      msg("3", { fromSelf: true }),
      msg("4"),
      msg("1"),
      { ...msg("5"), kind: "edit" },
      { ...msg("6"), text: 42 },
      { ...msg("7"), sender: {} },
      { ...msg("8"), attachments: "x" },
      msg("9", { chat: { id: "c1", threadId: "t" } }),
      null,
      "junk",
      msg("10"),
      msg("11"),
    ];
    assert.deepEqual(
      acceptHistory(answer, "c1", 10).map((m) => m.id),
      ["1", "4", "10", "11"],
    );
    assert.deepEqual(
      acceptHistory(answer, "c1", 2).map((m) => m.id),
      ["10", "11"],
    );
    assert.deepEqual(
      acceptHistory(answer, "c1/t", 5).map((m) => m.id),
      ["9"],
    );
    assert.deepEqual(acceptHistory(answer, "c1", 0), []);
    assert.deepEqual(acceptHistory({ length: 3 }, "c1", 5), []);
    assert.deepEqual(acceptHistory(undefined, "c1", 5), []);
  });

  it("never lets through anything but distinct messages of the chat, at most `limit`, whatever the answer holds (fuzz)", () => {
    const good = fc
      .record({
        id: fc.string({ maxLength: 4 }),
        text: fc.string({ maxLength: 8 }),
        chat: fc.constantFrom("c1", "c2"),
      })
      .map(({ id, text, chat }) => msg(id, { text, chat: { id: chat } }));
    const item = fc.oneof(
      good,
      fc.anything(),
      fc.record({ kind: fc.constant("message"), id: fc.anything() }),
    );
    fc.assert(
      fc.property(fc.array(item, { maxLength: 40 }), fc.integer({ min: -2, max: 30 }), (answer, limit) => {
        const out = acceptHistory(answer, "c1", limit);
        assert.ok(out.length <= Math.max(0, limit));
        assert.equal(new Set(out.map((m) => m.id)).size, out.length);
        let from = 0;
        for (const m of out) {
          assert.equal(m.kind, "message");
          assert.equal(m.chat.id, "c1");
          assert.equal(m.chat.threadId, undefined);
          assert.ok(typeof m.id === "string" && m.id.length > 0);
          assert.equal(typeof m.text, "string");
          assert.equal(typeof m.timestamp, "number");
          // A subsequence of the answer: the connector's order (oldest first) is kept.
          const at = answer.indexOf(m, from);
          assert.ok(at >= from, "kept in the answer's order");
          from = at + 1;
        }
        // Nothing acceptable is lost below the limit: the newest distinct ones are all there.
        const acceptable = new Set(
          answer
            .filter(
              (a): a is RemoteMessage =>
                typeof a === "object" && a !== null && (a as RemoteMessage).kind === "message",
            )
            .filter(
              (a) => typeof a.id === "string" && a.id && a.chat?.id === "c1" && typeof a.text === "string",
            )
            .map((a) => a.id),
        );
        if (limit > 0) assert.equal(out.length, Math.min(limit, acceptable.size));
      }),
      fuzzParams(300),
    );
  });
});

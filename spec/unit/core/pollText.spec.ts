import assert from "node:assert/strict";
import fc from "fast-check";
import { pollText } from "../../../src/core/richContent";
import { fuzzParams } from "../../harness/fuzz";

describe("pollText: a Matrix poll as a platform message", () => {
  it("MSC3381 and the stable form give the question and numbered answers; a broken poll its fallback", () => {
    const msc = {
      "org.matrix.msc3381.poll.start": {
        question: { "org.matrix.msc1767.text": "Lunch?" },
        answers: [
          { id: "1", "org.matrix.msc1767.text": "Pizza" },
          { id: "2", "org.matrix.msc1767.text": "Soup" },
        ],
      },
    };
    assert.equal(pollText(msc), "Poll: Lunch?\n1. Pizza\n2. Soup");
    const stable = {
      "m.poll": {
        question: { "m.text": [{ body: "Tea?" }] },
        answers: [{ "m.id": "y", "m.text": [{ body: "Yes" }] }],
      },
    };
    assert.equal(pollText(stable), "Poll: Tea?\n1. Yes");
    assert.equal(pollText({ "org.matrix.msc1767.text": "fallback text" }), "fallback text");
    assert.equal(pollText({}), "[a poll]");
  });

  it("fuzz: any content gives a non-empty text, bounded", () => {
    fc.assert(
      fc.property(fc.object({ maxDepth: 4 }), (content) => {
        const t = pollText(content);
        assert.ok(typeof t === "string" && t.length > 0 && t.length < 30_000);
      }),
      fuzzParams(500),
    );
  });
});

import assert from "node:assert/strict";
import fc from "fast-check";
import { quoteCommandWord } from "../../../src/commands/CommandHandler";
import { fuzzParams } from "../../harness/fuzz";

describe("quoteCommandWord", () => {
  it("keeps a plain word as it is", () => {
    assert.equal(quoteCommandWord("frobnicate"), "frobnicate");
    assert.equal(quoteCommandWord("log-in_2.0"), "log-in_2.0");
  });

  it("quotes a long word as a short prefix marked as cut", () => {
    assert.equal(quoteCommandWord("a".repeat(20_000)), `${"a".repeat(24)}…`);
  });

  it("drops markup, quotes and control characters", () => {
    assert.equal(quoteCommandWord("<b>x</b>`@room`"), "bxbroom");
    assert.equal(quoteCommandWord("*_~[x](y)\u0000\u202e"), "_xy");
    assert.equal(quoteCommandWord("<>&"), "?");
  });

  it("never returns markup or more than 25 characters, whatever the input", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 500 }), (word) => {
        const q = quoteCommandWord(word);
        assert.ok([...q].length <= 25, q);
        assert.doesNotMatch(q, /[<>&`*~[\]()\\\s\p{C}]/u);
      }),
      fuzzParams(300),
    );
  });
});

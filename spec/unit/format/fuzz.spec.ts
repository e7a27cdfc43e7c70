import assert from "node:assert/strict";
import fc from "fast-check";
import { parseMatrixHtml, plainText } from "../../../src/format";
import { fuzzParams } from "../../harness/fuzz";
import { htmlWords, matrixHtml, missingWord } from "./markup";

describe("format: property — any Matrix HTML parses, and keeps its words", () => {
  it("never throws, and every word a reader sees is in the document's text", () => {
    fc.assert(
      fc.property(matrixHtml, (html) => {
        const text = plainText(parseMatrixHtml(html));
        const missing = missingWord(htmlWords(html), text);
        assert.equal(missing, undefined, `"${missing}" lost: ${JSON.stringify(html.slice(0, 300))}`);
      }),
      fuzzParams(300),
    );
  });
});

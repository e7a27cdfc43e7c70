import assert from "node:assert/strict";
import fc from "fast-check";
import { parseMatrixHtml, plainText, renderMatrixHtml } from "../../../src/format";
import { fuzzParams } from "../../harness/fuzz";
import { assertWellFormed, htmlWords, MATRIX_TAGS, matrixHtml, missingWord } from "./markup";

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

  it("the document rendered back to Matrix HTML is well formed and reads the same", () => {
    fc.assert(
      fc.property(matrixHtml, (html) => {
        const why = JSON.stringify(html.slice(0, 300));
        const doc = parseMatrixHtml(html);
        const out = renderMatrixHtml(doc);
        assertWellFormed(out, MATRIX_TAGS, why);
        const again = plainText(parseMatrixHtml(out));
        const missing = missingWord(htmlWords(html), again);
        assert.equal(missing, undefined, `"${missing}" lost: ${why}`);
      }),
      fuzzParams(300),
    );
  });
});

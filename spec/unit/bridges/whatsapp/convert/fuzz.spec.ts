import assert from "node:assert/strict";
import fc from "fast-check";
import { htmlToWhatsapp, whatsappToHtml } from "../../../../../bridges/whatsapp/convert/format";
import { fuzzParams } from "../../../../harness/fuzz";
import {
  assertWellFormed,
  htmlText,
  htmlWords,
  MATRIX_TAGS,
  markup,
  matrixHtml,
  missingWord,
  words,
} from "../../../format/markup";

const WA = markup(["*", "_", "~", "`", "```", "```\n", "<b>", "&amp;", "> ", "2*3*4", "snake_case"]);

describe("WhatsApp convert: properties (random input)", () => {
  it("Matrix HTML → WhatsApp text: never throws, every word kept, within WhatsApp's 65,536 characters", () => {
    fc.assert(
      fc.property(matrixHtml, (html) => {
        const why = JSON.stringify(html.slice(0, 300));
        const out = htmlToWhatsapp(html);
        const missing = missingWord(htmlWords(html), out);
        assert.equal(missing, undefined, `"${missing}" lost: ${why}`);
        assert.ok(out.length <= 16 * html.length + 64, `${out.length} from ${html.length}: ${why}`);
        // A Matrix event is at most 65,536 bytes, so an HTML body of up to 4,000 characters always fits.
        if (html.length <= 4000) assert.ok(out.length <= 65_536, why);
      }),
      fuzzParams(300),
    );
  });

  it("WhatsApp text → Matrix HTML: never throws, well formed, every word kept", () => {
    fc.assert(
      fc.property(WA, (text) => {
        const html = whatsappToHtml(text);
        if (html === undefined) return;
        assertWellFormed(html, MATRIX_TAGS, JSON.stringify(text.slice(0, 300)));
        const missing = missingWord(words(text), htmlText(html));
        assert.equal(missing, undefined, `"${missing}" lost: ${JSON.stringify(text.slice(0, 300))}`);
      }),
      fuzzParams(300),
    );
  });
});

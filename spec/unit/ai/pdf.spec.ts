import assert from "node:assert/strict";
import fc from "fast-check";
import { isPdf, pdfText } from "../../../src/ai/pdf";
import { fuzzParams } from "../../harness/fuzz";
import { makePdf } from "../../harness/pdf";

describe("PDF text for the AI's context", function () {
  this.timeout(30_000);

  it("reads the text of every page, compressed or not, in order", async () => {
    const pdf = makePdf(["Invoice 42: pay by Friday", "Page two (totals)"], { compress: true });
    assert.ok(isPdf(pdf));
    assert.deepEqual(await pdfText(pdf, 10_000), {
      text: "Invoice 42: pay by Friday\n\nPage two (totals)",
      cut: false,
    });
    assert.deepEqual(await pdfText(makePdf(["plain"]), 10_000), { text: "plain", cut: false });
  });

  it("cuts to maxChars and says so; a PDF without text, a broken one and no PDF give nothing", async () => {
    assert.deepEqual(await pdfText(makePdf(["abcdefghij"]), 4), { text: "abcd", cut: true });
    assert.equal(await pdfText(makePdf([""]), 100), undefined);
    const pdf = makePdf(["hello"]);
    assert.equal(await pdfText(pdf.subarray(0, 60), 100), undefined);
    assert.equal(await pdfText(Buffer.from("hello, not a pdf"), 100), undefined);
  });

  it("fuzz: mangled PDFs never throw and never return more than asked", async () => {
    const base = makePdf(["The quick brown fox", "jumps over"], { compress: true });
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ at: fc.nat({ max: base.length - 1 }), byte: fc.nat({ max: 255 }) }), {
          minLength: 1,
          maxLength: 8,
        }),
        fc.nat({ max: 200 }),
        async (flips, max) => {
          const copy = Buffer.from(base);
          for (const f of flips) copy[f.at] = f.byte;
          const out = await pdfText(copy, max);
          if (out) assert.ok(out.text.length <= max);
        },
      ),
      fuzzParams(60),
    );
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 2000 }), async (junk) => {
        assert.equal(
          await pdfText(Buffer.concat([Buffer.from("%PDF-1.7\n"), Buffer.from(junk)]), 100),
          undefined,
        );
      }),
      fuzzParams(60),
    );
  });
});

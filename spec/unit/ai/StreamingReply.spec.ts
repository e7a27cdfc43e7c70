import { strict as assert } from "node:assert";
import { markdownToHtml } from "../../../src/ai/markdown";
import { PART_BYTES, splitForEvents } from "../../../src/ai/StreamingReply";

describe("ai: answer formatting and size", () => {
  it("markdown becomes HTML; plain text needs none; raw HTML is shown, not interpreted", () => {
    assert.equal(markdownToHtml("just words"), undefined);
    assert.equal(markdownToHtml("**bold** and `code`"), "<p><strong>bold</strong> and <code>code</code></p>");
    assert.match(markdownToHtml("- a\n- b") ?? "", /<ul>\s*<li>a<\/li>/);
    assert.doesNotMatch(markdownToHtml("<img src=x onerror=alert(1)> *hi*") ?? "", /<img/);
  });

  it("splits long answers into parts under the event size limit, at breaks, keeping every character", () => {
    const para = `${"word ".repeat(400).trim()}\n\n`;
    const text = para.repeat(20) + "é".repeat(9000);
    const parts = splitForEvents(text);
    assert.ok(parts.length >= 3);
    for (const p of parts)
      assert.ok(Buffer.byteLength(p) <= PART_BYTES, `part of ${Buffer.byteLength(p)} bytes`);
    assert.equal(parts.join("").replace(/\s/g, ""), text.replace(/\s/g, ""));
    assert.deepEqual(splitForEvents("short"), ["short"]);
  });
});

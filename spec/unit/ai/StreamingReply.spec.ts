import { strict as assert } from "node:assert";
import { markdownToHtml } from "../../../src/ai/markdown";
import {
  CONTENT_BYTES,
  editContent,
  jsonBytes,
  messageContent,
  PART_BYTES,
  splitForEvents,
  withinLimit,
} from "../../../src/ai/StreamingReply";

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

  it("counts parts in JSON bytes: quotes, backslashes, control characters and lone surrogates cost what they cost on the wire", () => {
    const hostile = [
      '  {"id": "aaaaaa", "key": "vvvvvvvvv"},\n'.repeat(1200),
      "\\".repeat(30_000),
      "\u0001\u001f".repeat(9_000),
      "\ud800x".repeat(8_000),
      "😀 ".repeat(10_000),
    ];
    for (const text of hostile) {
      const parts = splitForEvents(text);
      assert.ok(parts.length >= 2, "split");
      for (const p of parts)
        assert.ok(jsonBytes(p) - 2 <= PART_BYTES, `part of ${jsonBytes(p) - 2} JSON bytes`);
      assert.equal(parts.join("").replace(/\s/g, ""), text.replace(/\s/g, ""), "every character kept");
    }
  });

  it("keeps every message and edit within the content budget (encrypted events are a third larger), HTML dropped first", () => {
    // A JSON code block: its HTML is about twice the text (`&quot;`), the edit carries the text twice.
    const line = `  {"id": "${"a".repeat(6)}", "key": "${"v".repeat(9)}"},\n`;
    const long = `\`\`\`json\n[\n${line.repeat(900)}]\n\`\`\``;
    const parts = splitForEvents(long);
    const edit = withinLimit(editContent("$first", messageContent(parts[0]!, true)));
    assert.ok(jsonBytes(edit) <= CONTENT_BYTES, `edit of ${jsonBytes(edit)} bytes`);
    assert.equal((edit["m.new_content"] as Record<string, unknown>).body, parts[0], "the text stays whole");
    assert.equal((edit["m.new_content"] as Record<string, unknown>).formatted_body, undefined);
    assert.equal(edit.body, `* ${parts[0]}`);
    for (const p of parts) {
      const msg = withinLimit(messageContent(p, true));
      assert.ok(jsonBytes(msg) <= CONTENT_BYTES, `message of ${jsonBytes(msg)} bytes`);
      assert.equal(msg.body, p);
    }
    // Within the budget, the HTML stays.
    const small = withinLimit(editContent("$first", messageContent("**bold**", true)));
    assert.equal(
      (small["m.new_content"] as Record<string, unknown>).formatted_body,
      "<p><strong>bold</strong></p>",
    );
  });
});

import assert from "node:assert/strict";
import {
  embedToText,
  prefixed,
  replyQuote,
  splitMessage,
  stickerMedia,
  stripReplyFallback,
  webhookUsername,
} from "../../../../../bridges/discord/convert/index";

describe("Discord convert: embeds, stickers, relay text and splitting", () => {
  it("renders an embed as quoted lines", () => {
    const text = embedToText({
      author: { name: "Bot" },
      title: "Title",
      url: "https://e.org",
      description: "two\nlines",
      fields: [{ name: "k", value: "v" }],
      footer: { text: "foot" },
    });
    assert.equal(text, "> Bot\n> Title (https://e.org)\n> two\n> lines\n> k: v\n> foot");
  });

  it("maps sticker formats to images and skips Lottie", () => {
    assert.deepEqual(stickerMedia(1, "9", "https://cdn"), {
      url: "https://cdn/stickers/9.png",
      mimetype: "image/png",
    });
    assert.deepEqual(stickerMedia(4, "9", "https://cdn"), {
      url: "https://cdn/stickers/9.gif",
      mimetype: "image/gif",
    });
    assert.equal(stickerMedia(3, "9", "https://cdn"), undefined);
  });

  const table: Array<[string, string, string]> = [
    ["Alice", "@a:hs", "Alice"],
    ["My Discord Name", "@a:hs", "My D1scord Name"],
    ["x", "@longer:hs", "@longer:hs"],
    ["a".repeat(100), "@a:hs", "a".repeat(80)],
  ];
  for (const [name, mxid, want] of table) {
    it(`webhook username for ${JSON.stringify(name.slice(0, 20))}`, () =>
      assert.equal(webhookUsername(name, mxid), want));
  }

  it("prefixes bot fallback messages and emotes", () => {
    assert.equal(prefixed("A*b", "hi", "text"), "**A\\*b**: hi");
    assert.equal(prefixed("Ann", "waves", "emote"), "\\* **Ann** waves");
  });

  it("quotes the replied-to message with a jump link", () => {
    assert.equal(
      replyQuote("Ann", "first\nsecond", "https://discord.com/channels/1/2/3"),
      "> **Ann**: first ([↩](<https://discord.com/channels/1/2/3>))\n",
    );
  });

  it("drops a plain reply fallback", () => {
    assert.equal(stripReplyFallback("> <@a:hs> old\n> more\n\nnew"), "new");
    assert.equal(stripReplyFallback("> quote of my own"), "> quote of my own");
  });

  it("splits at 2000 characters on paragraph, line or word breaks", () => {
    const text = `${"a ".repeat(900)}\n\n${"b ".repeat(900)}`;
    const parts = splitMessage(text);
    assert.equal(parts.length, 2);
    assert.ok(parts.every((p) => p.length <= 2000));
    assert.equal(parts.join(" ").replace(/\s+/g, ""), text.replace(/\s+/g, ""));
    const word = "x".repeat(4500);
    assert.deepEqual(
      splitMessage(word).map((p) => p.length),
      [1996, 1996, 508],
    );
  });

  it("closes and reopens a code fence cut by a split", () => {
    const text = `\`\`\`js\n${"line();\n".repeat(400)}\`\`\``;
    const parts = splitMessage(text);
    assert.ok(parts.length >= 2);
    for (const p of parts) {
      assert.ok(p.length <= 2000, `part of ${p.length}`);
      assert.equal((p.match(/```/g) ?? []).length % 2, 0, "balanced fences");
    }
    assert.ok(parts[1].startsWith("```js\n"));
  });
});

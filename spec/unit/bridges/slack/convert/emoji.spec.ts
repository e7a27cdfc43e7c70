import assert from "node:assert/strict";
import fc from "fast-check";
import { customEmojiMap, customEmojiUrl } from "../../../../../bridges/slack/convert/emoji";
import {
  emojiFromName,
  nameFromEmoji,
  reactionName,
  replaceShortcodes,
} from "../../../../../bridges/slack/convert/index";
import { fuzzParams } from "../../../../harness/fuzz";

describe("Slack emoji names ↔ unicode (emoji-datasource)", () => {
  it("maps names and aliases to unicode, skin tones included", () => {
    assert.equal(emojiFromName("+1"), "👍");
    assert.equal(emojiFromName("thumbsup"), "👍");
    assert.equal(emojiFromName("+1::skin-tone-4"), "👍🏽");
    assert.equal(emojiFromName("thumbsup::skin-tone-6"), "👍🏿");
    assert.equal(emojiFromName("wave::skin-tone-2"), "👋🏻");
    assert.equal(emojiFromName("skull"), "💀");
    assert.equal(emojiFromName("saluting_face"), "🫡");
    assert.equal(emojiFromName("no_such_emoji"), undefined);
    assert.equal(emojiFromName("skull::skin-tone-3"), undefined, "no skin tones for a skull");
  });

  it("maps unicode back to Slack's name, with or without the variation selector, skin tones included", () => {
    assert.equal(nameFromEmoji("👍"), "+1");
    assert.equal(nameFromEmoji("👍🏽"), "+1::skin-tone-4");
    assert.equal(nameFromEmoji("❤️"), "heart");
    assert.equal(nameFromEmoji("❤"), "heart");
    assert.equal(nameFromEmoji("🦄"), "unicorn_face");
    assert.equal(nameFromEmoji("🫡"), "saluting_face");
    assert.equal(nameFromEmoji("not an emoji"), undefined);
  });

  it("replaces known shortcodes in text and leaves the rest", () => {
    assert.equal(
      replaceShortcodes("a :fire: b :nope: c :eyes: :+1::skin-tone-5:"),
      "a 🔥 b :nope: c 👀 👍🏾",
    );
    assert.equal(replaceShortcodes("time 10:30:00"), "time 10:30:00");
  });

  it("turns a Matrix reaction key into a Slack reaction name (custom Slack emoji keep their name)", () => {
    assert.equal(reactionName("🎉"), "tada");
    assert.equal(reactionName("👍🏽"), "+1::skin-tone-4");
    assert.equal(reactionName("💀"), "skull");
    assert.equal(reactionName(":party_parrot:"), "party_parrot");
    assert.equal(reactionName("not an emoji"), undefined);
  });

  it("every name maps to an emoji that maps back to a name of the same emoji", () => {
    fc.assert(
      fc.property(
        fc.constantFrom("+1", "heart", "skull", "wave::skin-tone-3", "flag-fr", "smile", "rocket"),
        (name) => {
          const emoji = emojiFromName(name);
          assert.ok(emoji);
          assert.equal(emojiFromName(nameFromEmoji(emoji)!), emoji);
        },
      ),
      fuzzParams(50),
    );
  });

  it("never throws on arbitrary names and text", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 200 }), (s) => {
        emojiFromName(s);
        nameFromEmoji(s);
        reactionName(s);
        assert.equal(typeof replaceShortcodes(s), "string");
      }),
      fuzzParams(300),
    );
  });

  it("reads a workspace's custom emoji from emoji.list, aliases followed three hops at most", () => {
    const map = customEmojiMap({
      ok: true,
      emoji: {
        party: "https://emoji.slack-edge.com/T1/party/abc.png",
        fiesta: "alias:party",
        again: "alias:fiesta",
        deep: "alias:again",
        deeper: "alias:deep",
        loop: "alias:loop",
        local: "file:///etc/passwd",
        odd: 42,
        nested: { url: "https://x" },
      },
    });
    assert.equal(customEmojiUrl(map, "party"), "https://emoji.slack-edge.com/T1/party/abc.png");
    assert.equal(customEmojiUrl(map, "fiesta"), "https://emoji.slack-edge.com/T1/party/abc.png");
    assert.equal(customEmojiUrl(map, "deep"), "https://emoji.slack-edge.com/T1/party/abc.png");
    assert.equal(customEmojiUrl(map, "deeper"), undefined, "four hops is too many");
    assert.equal(customEmojiUrl(map, "loop"), undefined);
    assert.equal(customEmojiUrl(map, "local"), undefined, "only http(s) pictures are fetched");
    assert.equal(customEmojiUrl(map, "odd"), undefined);
    assert.ok(!map.has("nested"));
    assert.equal(customEmojiUrl(map, "missing"), undefined);
    assert.equal(customEmojiUrl(undefined, "party"), undefined, "no list read yet");
  });

  it("takes any emoji.list answer without throwing; every URL it gives is http(s) (fuzzed)", () => {
    const value = fc.oneof(
      fc.string(),
      fc.constantFrom("alias:a", "alias:b", "alias:", "https://e/x.png", "http://e/y.gif", "ftp://e/z"),
      fc.string().map((n) => `alias:${n}`),
      fc.anything(),
    );
    const answer = fc.oneof(
      fc.anything(),
      fc.record({ ok: fc.boolean(), emoji: fc.dictionary(fc.string({ unit: "binary" }), value) }),
      fc.record({ emoji: fc.array(value) }),
    );
    fc.assert(
      fc.property(answer, fc.string({ unit: "binary" }), (a, name) => {
        const map = customEmojiMap(a);
        for (const v of map.values()) assert.equal(typeof v, "string");
        for (const n of [name, ...map.keys()]) {
          const url = customEmojiUrl(map, n);
          if (url !== undefined) assert.match(url, /^https?:\/\//);
        }
      }),
      fuzzParams(300),
    );
  });
});

import assert from "node:assert/strict";
import {
  emojiFromName,
  nameFromEmoji,
  reactionName,
  replaceShortcodes,
} from "../../../../../bridges/slack/convert/index";

describe("Slack emoji names ↔ unicode", () => {
  it("maps names and aliases to unicode, ignoring skin tones", () => {
    assert.equal(emojiFromName("+1"), "👍");
    assert.equal(emojiFromName("thumbsup"), "👍");
    assert.equal(emojiFromName("wave::skin-tone-4"), "👋");
    assert.equal(emojiFromName("no_such_emoji"), undefined);
  });

  it("maps unicode back to the first name, with or without the variation selector", () => {
    assert.equal(nameFromEmoji("👍"), "+1");
    assert.equal(nameFromEmoji("❤️"), "heart");
    assert.equal(nameFromEmoji("❤"), "heart");
    assert.equal(nameFromEmoji("🦄"), undefined);
  });

  it("replaces known shortcodes in text and leaves the rest", () => {
    assert.equal(replaceShortcodes("a :fire: b :nope: c :eyes:"), "a 🔥 b :nope: c 👀");
    assert.equal(replaceShortcodes("time 10:30:00"), "time 10:30:00");
  });

  it("turns a Matrix reaction key into a Slack reaction name (custom Slack emoji keep their name)", () => {
    assert.equal(reactionName("🎉"), "tada");
    assert.equal(reactionName(":party_parrot:"), "party_parrot");
    assert.equal(reactionName("🦄"), undefined);
  });
});

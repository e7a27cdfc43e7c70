import assert from "node:assert/strict";
import fc from "fast-check";
import { cleanName, DISPLAYNAME_MAX, ghostDisplayName, NAME_MAX, nameKey } from "../../../src/core/ghostName";
import { fuzzParams } from "../../harness/fuzz";

const TEMPLATE = "{displayname} ({platform})";
/** Controls, bidi embeddings/overrides/isolates, zero-width and invisible format characters. */
const FORBIDDEN = /[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}]/u;
const name = (displayName: string | undefined, reserved: string[] = [], template = TEMPLATE) =>
  ghostDisplayName({ template, displayName, platform: "telegram", remoteId: "4242", reserved });

describe("ghost display names", () => {
  it("puts the platform name through the template", () => {
    assert.equal(name("Uma Remote"), "Uma Remote (Telegram)");
    assert.equal(name("Uma", [], "[{platform}] {displayname} #{id}"), "[Telegram] Uma #4242");
  });

  it("removes right-to-left overrides, isolates and zero-width characters", () => {
    // Renders as "alice" in clients that honour the override.
    assert.equal(cleanName("\u202Eecila"), "ecila");
    assert.equal(cleanName("a\u200Bl\u200Ci\u200Dc\u2060e\uFEFF"), "alice");
    assert.equal(cleanName("\u2067alice\u2069\u00AD"), "alice");
    assert.equal(cleanName("line\nbreak\u2028\ttab\u0007"), "line break tab");
    assert.equal(cleanName("\u3164\u115F"), "");
  });

  it("falls back to the id when nothing visible is left, and caps long names", () => {
    assert.equal(name("\u200B\u202E \u2066"), "4242 (Telegram)");
    assert.equal(name(""), "4242 (Telegram)");
    const long = name("x".repeat(300));
    assert.ok([...long].length <= NAME_MAX + " (Telegram)".length);
    assert.ok(long.includes("…"));
    const huge = name("y".repeat(10), [], `{displayname}${"z".repeat(400)}`);
    assert.ok([...huge].length <= DISPLAYNAME_MAX);
  });

  it("adds the id when the name would read like the bot, the AI or a room member", () => {
    const reserved = ["Clawbridge bridge bot", "AI", "@alice:example.org", "Alice (Telegram)"];
    assert.equal(name("Clawbridge bridge bot", reserved, "{displayname}"), "Clawbridge bridge bot [4242]");
    assert.equal(name("ai", reserved, "{displayname}"), "ai [4242]");
    assert.equal(name("@alice:example.org", reserved, "{displayname}"), "@alice:example.org [4242]");
    assert.equal(name("ALICE", reserved), "ALICE [4242] (Telegram)");
    assert.equal(name("\u202Aalice\u202C", reserved), "alice [4242] (Telegram)");
    // Full-width letters fold to the same key.
    assert.equal(nameKey("ＡＩ"), nameKey("ai"));
    assert.equal(name("ＡＩ", reserved, "{displayname}"), "ＡＩ [4242]");
    assert.equal(name("Bob", reserved), "Bob (Telegram)");
  });

  it("never throws, never passes the cap, never keeps invisible or control characters", () => {
    const text = fc.oneof(
      fc.string({ unit: "binary", maxLength: 400 }),
      fc.string({ unit: "grapheme", maxLength: 80 }),
      fc
        .array(
          fc.constantFrom("a", "\u202E", "\u200B", "\u0000", "\uD800", "\uDC00", " ", "\n", "\u3164", "é"),
          {
            maxLength: 300,
          },
        )
        .map((a) => a.join("")),
    );
    fc.assert(
      fc.property(
        text,
        fc.option(text),
        fc.array(text, { maxLength: 4 }),
        text,
        (display, template, reserved, id) => {
          const out = ghostDisplayName({
            template: template ?? TEMPLATE,
            displayName: display,
            platform: "telegram",
            remoteId: id,
            reserved,
          });
          assert.ok([...out].length <= DISPLAYNAME_MAX, `too long: ${out.length}`);
          assert.ok(!FORBIDDEN.test(out), `forbidden character in ${JSON.stringify(out)}`);
          assert.ok(out.length > 0);
          assert.ok(!reserved.some((r) => nameKey(r) === nameKey(out)), `collides: ${JSON.stringify(out)}`);
        },
      ),
      fuzzParams(300),
    );
  });
});

import assert from "node:assert/strict";
import fc from "fast-check";
import { typedChannelId } from "../../../../bridges/discord/typedChat";
import { BridgeError } from "../../../../src/core/errors";
import { fuzzParams } from "../../../harness/fuzz";

const snowflake = fc.bigInt({ min: 10n ** 16n, max: 2n ** 63n - 1n }).map(String);

describe("Discord: the channel a person types for link", () => {
  it("property: the id, its mention and links to it or its messages give the same id", () => {
    fc.assert(
      fc.property(snowflake, snowflake, snowflake, fc.constantFrom("", " ", "\t"), (ch, guild, msg, sp) => {
        for (const typed of [
          ch,
          `<#${ch}>`,
          `https://discord.com/channels/${guild}/${ch}`,
          `https://discord.com/channels/${guild}/${ch}/${msg}`,
          `https://canary.discord.com/channels/${guild}/${ch}`,
          `https://ptb.discordapp.com/channels/@me/${ch}/`,
          `discord.com/channels/${guild}/${ch}?foo=1`,
        ])
          assert.equal(typedChannelId(sp + typed + sp), ch, typed);
      }),
      fuzzParams(200),
    );
  });

  it("property: any text is a snowflake or a refusal that says what to give", () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: "binary", maxLength: 40 })),
        (typed) => {
          try {
            assert.match(typedChannelId(typed), /^[1-9]\d{14,20}$/);
          } catch (err) {
            if (err instanceof assert.AssertionError) throw err;
            assert.ok(err instanceof BridgeError, String(err));
            assert.match(err.userMessage, /is not a Discord channel.*Copy Channel ID/);
          }
        },
      ),
      fuzzParams(500),
    );
  });

  it("refuses names, short numbers and other sites, saying why", () => {
    assert.throws(
      () => typedChannelId("#general"),
      (e: unknown) => e instanceof BridgeError && /not unique/.test(e.userMessage),
    );
    for (const typed of [
      "",
      "123",
      "<@123456789012345678>",
      "https://example.com/channels/1/123456789012345678",
    ])
      assert.throws(() => typedChannelId(typed), BridgeError, typed);
  });
});

import assert from "node:assert/strict";
import fc from "fast-check";
import { typedChannelId } from "../../../../bridges/slack/typedChat";
import { BridgeError } from "../../../../src/core/errors";
import { fuzzParams } from "../../../harness/fuzz";

const channel = fc
  .tuple(
    fc.constantFrom("C", "G", "D"),
    fc.stringMatching(/^[A-Z0-9]{7,11}$/),
    fc.integer({ min: 0, max: 9 }),
  )
  .map(([kind, rest, digit]) => `${kind}${digit}${rest}`);

describe("Slack: the channel a person types for link", () => {
  it("property: the id, its mention and links to it or its messages give the same id", () => {
    fc.assert(
      fc.property(
        channel,
        fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/),
        fc.constantFrom("", " ", "\t"),
        (ch, team, sp) => {
          for (const typed of [
            ch,
            `<#${ch}>`,
            `<#${ch}|${team}>`,
            `https://${team}.slack.com/archives/${ch}`,
            `https://${team}.slack.com/archives/${ch}/p1700000000123456`,
            `${team}.slack.com/archives/${ch}/?thread_ts=1`,
            `https://app.slack.com/client/T0123ABC/${ch}`,
            `https://app.slack.com/client/T0123ABC/${ch}/details`,
          ])
            assert.equal(typedChannelId(sp + typed + sp), ch, typed);
        },
      ),
      fuzzParams(200),
    );
  });

  it("property: any text is a channel id or a refusal that says what to give", () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: "binary", maxLength: 40 })),
        (typed) => {
          try {
            assert.match(typedChannelId(typed), /^[CGD][A-Z0-9]{6,20}$/);
          } catch (err) {
            if (err instanceof assert.AssertionError) throw err;
            assert.ok(err instanceof BridgeError, String(err));
            assert.match(err.userMessage, /is not a Slack channel.*channel's id/);
          }
        },
      ),
      fuzzParams(500),
    );
  });

  it("refuses names, user ids and other sites, saying why", () => {
    assert.throws(
      () => typedChannelId("#general"),
      (e: unknown) => e instanceof BridgeError && /not its name/.test(e.userMessage),
    );
    for (const typed of [
      "",
      "GENERAL",
      "U0123ABCD",
      "<@U0123ABCD>",
      "https://example.com/archives/C0123ABCD",
    ])
      assert.throws(() => typedChannelId(typed), BridgeError, typed);
  });
});

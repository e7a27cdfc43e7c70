import assert from "node:assert/strict";
import fc from "fast-check";
import { decodeSlack, matrixToMrkdwn, mrkdwnToMatrix } from "../../../../../bridges/slack/convert/index";
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

const toMatrix = {
  user: (id: string) => ({ mxid: `@_slack_t0aaa_${id.toLowerCase()}:hs.test`, name: "Uma" }),
  channelName: () => "general",
};
const toSlack = { slackUser: (mxid: string) => /^@_slack_t0aaa_(u\w+):hs$/.exec(mxid)?.[1]?.toUpperCase() };

/**
 * Slack's control tokens (`<@U1>`, `<url|label>`: from a `<` to the next `>`, since Slack sends a typed
 * `<` as `&lt;`) and emoji names stand for something else.
 */
const TOKENS = /<[^>]*>|:[a-z0-9_+'-]+(?:::skin-tone-\d)?:/g;

const MRKDWN = markup([
  "*",
  "_",
  "~",
  "`",
  "```",
  "```\n",
  "&gt; ",
  ">",
  "&amp;",
  "&lt;",
  "&gt;",
  "<",
  ">",
  "|",
  ":tada:",
  ":+1::skin-tone-2:",
  "<@U0UMA>",
  "<@W1|w>",
  "<#C1|general>",
  "<#C2>",
  "<!here>",
  "<!subteam^S1|@team>",
  "<https://e.org/a?b=1&amp;c=2|docs>",
  "<mailto:a@b.org>",
  "<javascript:x|y>",
]);

describe("Slack convert: properties (random input)", () => {
  it("Matrix HTML → mrkdwn: never throws, every word kept, no blow-up, no control token from text", () => {
    fc.assert(
      fc.property(matrixHtml, (html) => {
        const why = JSON.stringify(html.slice(0, 300));
        const out = matrixToMrkdwn("", html, toSlack);
        const missing = missingWord(htmlWords(html), decodeSlack(out));
        assert.equal(missing, undefined, `"${missing}" lost: ${why}`);
        // Over 40,000 characters is the sender's job (SlackSender posts parts of MAX_TEXT).
        assert.ok(out.length <= 16 * html.length + 64, `${out.length} from ${html.length}: ${why}`);
        // Every real angle bracket is one the converter made: a mention or a safe link.
        for (const token of out.match(/<[^>]*>?/g) ?? [])
          assert.match(token, /^<(@U\w+|(https?|mailto):[^<>]*)>$/, why);
      }),
      fuzzParams(300),
    );
  });

  it("mrkdwn → Matrix: never throws, well-formed HTML, every word kept in text and HTML", () => {
    fc.assert(
      fc.property(MRKDWN, (src) => {
        const why = JSON.stringify(src.slice(0, 300));
        const out = mrkdwnToMatrix(src, toMatrix);
        const expected = words(decodeSlack(src.replace(TOKENS, " ")).replace(TOKENS, " "));
        const missing = missingWord(expected, out.text);
        assert.equal(missing, undefined, `"${missing}" lost in text: ${why}`);
        if (out.html !== undefined) {
          assertWellFormed(out.html, MATRIX_TAGS, why);
          const lost = missingWord(expected, htmlText(out.html));
          assert.equal(lost, undefined, `"${lost}" lost in HTML: ${why}`);
        }
      }),
      fuzzParams(300),
    );
  });
});

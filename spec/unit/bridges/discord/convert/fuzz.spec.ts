import assert from "node:assert/strict";
import fc from "fast-check";
import {
  discordToMatrix,
  htmlToDiscord,
  type MentionResolver,
  splitMessage,
} from "../../../../../bridges/discord/convert/index";
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

const names: MentionResolver = {
  user: (id) => ({ name: "Ann", mxid: `@_discord_${id}:hs.test` }),
  channel: (id) => ({ name: "general", alias: id === "1" ? `#_discord_${id}:hs.test` : undefined }),
  role: () => undefined,
};
const pills = {
  discordUser: (mxid: string) => /^@_discord_(\d+):hs$/.exec(mxid)?.[1],
  discordChannel: (room: string) => /^#_discord_(\d+):hs$/.exec(room)?.[1],
};

/**
 * Discord's own tokens (mentions, custom emoji) stand for something else, and a masked link's URL
 * becomes its href, a code block's language its class: none of that is text a reader sees.
 */
const TOKENS = /<@[!&]?\d+>|<#\d+>|<a?:\w+:\d+>|\]\(https?:\/\/[^)\s]+\)|```\w+/g;

const DISCORD = markup([
  "**",
  "*",
  "_",
  "__",
  "~~",
  "||",
  "`",
  "``",
  "```",
  "```ts\n",
  "> ",
  ">>> ",
  "# ",
  "## ",
  "-# ",
  "\\",
  "[x](https://e.org/a)",
  "[",
  "](",
  ")",
  "<@111>",
  "<@!2>",
  "<#1>",
  "<#9>",
  "<@&3>",
  "<:blob:4>",
  "<a:d:5>",
  "<b>",
  "&amp;",
  "https://e.org",
]);

describe("Discord convert: properties (random input)", () => {
  it("Matrix HTML → markdown: never throws, every word kept, no blow-up, parts within 2000", () => {
    fc.assert(
      fc.property(matrixHtml, (html) => {
        const why = JSON.stringify(html.slice(0, 300));
        const { content, users } = htmlToDiscord(html, pills);
        const missing = missingWord(htmlWords(html), content.replace(/\\/g, ""));
        assert.equal(missing, undefined, `"${missing}" lost: ${why}`);
        assert.ok(content.length <= 16 * html.length + 64, `${content.length} from ${html.length}: ${why}`);
        for (const id of users) assert.ok(content.includes(`<@${id}>`), why);
        // The 2000-character limit is the sender's: it splits with splitMessage.
        for (const part of splitMessage(content)) assert.ok(part.length <= 2000, why);
      }),
      fuzzParams(300),
    );
  });

  it("markdown → Matrix: never throws, well-formed HTML, every word kept in body and HTML", () => {
    fc.assert(
      fc.property(DISCORD, (src) => {
        const why = JSON.stringify(src.slice(0, 300));
        const out = discordToMatrix(src, names);
        const expected = words(src.replace(TOKENS, " "));
        const missing = missingWord(expected, out.body);
        assert.equal(missing, undefined, `"${missing}" lost in body: ${why}`);
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

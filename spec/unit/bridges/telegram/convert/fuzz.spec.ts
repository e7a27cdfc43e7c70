import assert from "node:assert/strict";
import fc from "fast-check";
import type { MessageEntity } from "grammy/types";
import { entitiesToHtml } from "../../../../../bridges/telegram/convert/entities";
import { matrixToTelegramHtml } from "../../../../../bridges/telegram/convert/html";
import { MAX_TEXT, splitPlain } from "../../../../../bridges/telegram/limits";
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
import { pillToTelegramUser, userPill } from "./fixtures";

const TELEGRAM_TAGS = new Set(["b", "i", "u", "s", "tg-spoiler", "a", "code", "pre", "blockquote"]);
const ENTITY_TYPES: MessageEntity["type"][] = [
  "bold",
  "italic",
  "underline",
  "strikethrough",
  "spoiler",
  "code",
  "pre",
  "blockquote",
  "expandable_blockquote",
  "text_link",
  "url",
  "text_mention",
  "mention",
  "hashtag",
  "custom_emoji",
];

const entity = (length: number): fc.Arbitrary<MessageEntity> =>
  fc
    .record({
      type: fc.constantFrom(...ENTITY_TYPES),
      offset: fc.oneof(fc.integer({ min: -3, max: length + 3 }), fc.constantFrom(Number.NaN, 1.5, 2 ** 53)),
      length: fc.integer({ min: -1, max: length + 3 }),
      url: fc.constantFrom(
        "https://e.org/x?a=1&b=2",
        "javascript:x",
        "tg://user?id=1",
        "",
        '"><b>',
        undefined,
        5,
      ),
      language: fc.constantFrom("ts", "", '"><script>', "c++", undefined, 7),
      id: fc.constantFrom(42, 7, undefined),
    })
    .map(
      (e) =>
        ({
          type: e.type,
          offset: e.offset,
          length: e.length,
          url: e.url,
          language: e.language,
          user: e.id === undefined ? undefined : { id: e.id, is_bot: false, first_name: "Zoë" },
        }) as unknown as MessageEntity,
    );

const TG_TEXT = markup(["<b>", "&amp;", "\n", "https://example.org", "@durov", "/start", "😀", '"']);

describe("telegram convert: properties (random input)", () => {
  it("Matrix HTML → Telegram HTML: never throws, well formed, safe links, every word kept, no blow-up", () => {
    fc.assert(
      fc.property(matrixHtml, (html) => {
        const why = JSON.stringify(html.slice(0, 300));
        const out = matrixToTelegramHtml(
          { body: "", format: "org.matrix.custom.html", formatted_body: html },
          { pillToTelegramUser },
        );
        assertWellFormed(out, TELEGRAM_TAGS, why);
        const missing = missingWord(htmlWords(html), htmlText(out));
        assert.equal(missing, undefined, `"${missing}" lost: ${why}`);
        // Over 4096 characters is the sender's job (TelegramClient sends the plain text in parts).
        assert.ok(out.length <= 16 * html.length + 64, `${out.length} from ${html.length}: ${why}`);
      }),
      fuzzParams(300),
    );
  });

  it("the sender's plain split keeps every part within Telegram's limit", () => {
    fc.assert(
      fc.property(TG_TEXT, (text) => {
        for (const part of splitPlain(text)) assert.ok(part.length <= MAX_TEXT);
      }),
      fuzzParams(100),
    );
  });

  it("text and entities → Matrix HTML → Telegram HTML: never throws, well formed, every word kept", () => {
    const input = TG_TEXT.chain((text) =>
      fc.tuple(fc.constant(text), fc.array(entity(text.length), { maxLength: 12 })),
    );
    fc.assert(
      fc.property(input, ([text, entities]) => {
        const why = JSON.stringify({ text: text.slice(0, 200), entities });
        const html = entitiesToHtml(text, entities, { userPill });
        // An entity may start or end inside a word (and a pre entity puts it on its own line): words between cuts.
        const cuts = entities
          .flatMap((e) => [e.offset, e.offset + e.length])
          .filter((n) => n > 0 && n < text.length);
        const expected = [0, ...cuts.sort((a, b) => a - b), text.length].flatMap((at, i, all) =>
          i + 1 < all.length ? words(text.slice(at, all[i + 1])) : [],
        );
        if (html !== undefined) {
          assertWellFormed(html, MATRIX_TAGS, why);
          const missing = missingWord(expected, htmlText(html));
          assert.equal(missing, undefined, `"${missing}" lost in Matrix HTML: ${why}`);
        }
        const content =
          html === undefined
            ? { body: text }
            : { body: text, format: "org.matrix.custom.html", formatted_body: html };
        const back = matrixToTelegramHtml(content, { pillToTelegramUser });
        assertWellFormed(back, TELEGRAM_TAGS, why);
        const missing = missingWord(expected, htmlText(back));
        assert.equal(missing, undefined, `"${missing}" lost on the way back: ${why}`);
      }),
      fuzzParams(300),
    );
  });
});

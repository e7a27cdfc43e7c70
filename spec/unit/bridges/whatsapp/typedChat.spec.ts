import assert from "node:assert/strict";
import fc from "fast-check";
import { sameChatIds, typedChatId } from "../../../../bridges/whatsapp/typedChat";
import { BridgeError } from "../../../../src/core/errors";
import { fuzzParams } from "../../../harness/fuzz";

const OWN = "15550000001";

/** A phone number with its country code, as WhatsApp knows it: 8 to 15 digits, no leading 0. */
const number = fc
  .tuple(
    fc.integer({ min: 1, max: 9 }),
    fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 7, maxLength: 14 }),
  )
  .map(([first, rest]) => `${first}${rest.join("")}`);

/** The number cut into chunks (at least one digit each). */
const chunksOf = (digits: string) =>
  fc
    .uniqueArray(fc.integer({ min: 1, max: digits.length - 1 }), { maxLength: 5 })
    .map((cuts) => [0, ...cuts.sort((a, b) => a - b), digits.length])
    .map((at) => at.slice(1).map((end, i) => digits.slice(at[i], end)));

/** How people write a phone number: +, 00 or nothing, separators, parentheses, a trunk (0). */
const written = (digits: string) =>
  fc
    .record({
      prefix: fc.constantFrom("+", "00", "", "+ "),
      chunks: chunksOf(digits),
      seps: fc.array(fc.constantFrom(" ", "-", ".", " - ", "/", "  "), { minLength: 6, maxLength: 6 }),
      paren: fc.integer({ min: -1, max: 5 }),
      trunk: fc.boolean(),
      pad: fc.constantFrom("", " ", "\t", "  "),
    })
    .map(({ prefix, chunks, seps, paren, trunk, pad }) => {
      const parts = chunks.map((c, i) => (i === paren && i > 0 && c.length > 1 ? `(${c})` : c));
      let out = prefix + parts[0];
      if (trunk && prefix.trim()) out += " (0)";
      for (let i = 1; i < parts.length; i++) out += seps[i - 1] + parts[i];
      return pad + out + pad;
    });

/** Every form of the same direct chat: typed numbers, JIDs, links, our own key. */
const anyForm = (digits: string) =>
  fc.oneof(
    written(digits),
    fc.constantFrom(
      `${digits}@s.whatsapp.net`,
      `${digits}:12@s.whatsapp.net`,
      `${digits}@S.WhatsApp.Net`,
      `${digits}@c.us`,
      `https://wa.me/${digits}`,
      `wa.me/+${digits}?text=hi`,
      `https://api.whatsapp.com/send?phone=${digits}&text=hello`,
      `${OWN}_${digits}@s.whatsapp.net`,
      ` ${OWN}_${digits}@s.whatsapp.net `,
    ),
  );

function refused(typed: string, pattern = /is not a WhatsApp chat/): void {
  assert.throws(
    () => typedChatId(typed, OWN),
    (err: unknown) =>
      err instanceof BridgeError && pattern.test(err.userMessage) && /\+49 170 1234567/.test(err.userMessage),
    `'${typed}' should be refused`,
  );
}

describe("WhatsApp: the chat a person types for link", () => {
  it("reads the examples people type as one key", () => {
    for (const typed of [
      "+49 170 1234567",
      "491701234567",
      "491701234567@s.whatsapp.net",
      "+49 (0)170 123-4567",
      "0049 170 1234567",
      "https://wa.me/491701234567",
    ])
      assert.equal(typedChatId(typed, OWN), `${OWN}_491701234567@s.whatsapp.net`, typed);
    assert.equal(typedChatId(" 120363000000000009@G.US ", OWN), "120363000000000009@g.us");
    assert.equal(typedChatId("4915550001-1612345678@g.us", OWN), "4915550001-1612345678@g.us");
    assert.equal(typedChatId("98765432101@lid", OWN), `${OWN}_98765432101@lid`);
  });

  it("property: any way of writing the same number gives the same key", () => {
    fc.assert(
      fc.property(
        number.chain((d) => fc.tuple(fc.constant(d), anyForm(d), anyForm(d))),
        ([digits, a, b]) => {
          const want = `${OWN}_${digits}@s.whatsapp.net`;
          assert.equal(typedChatId(a, OWN), want, a);
          assert.equal(typedChatId(b, OWN), want, b);
        },
      ),
      fuzzParams(300),
    );
  });

  it("property: any text is either a well-formed key or a refusal that says what to give", () => {
    const key = /^(\d+_\d+@(s\.whatsapp\.net|lid)|\d+(-\d+)?@g\.us)$/;
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 40 }),
          fc.string({ unit: "binary", maxLength: 40 }),
          fc.stringMatching(/^[+\d ()@a-z._-]{0,30}$/),
        ),
        (typed) => {
          try {
            assert.match(typedChatId(typed, OWN), key);
          } catch (err) {
            if (err instanceof assert.AssertionError) throw err;
            assert.ok(err instanceof BridgeError, String(err));
            assert.match(err.userMessage, /is not a WhatsApp chat.*country code/);
          }
        },
      ),
      fuzzParams(500),
    );
  });

  it("refuses garbage with a text saying what to give", () => {
    for (const typed of [
      "",
      "hello",
      "+49 170",
      "12345678901234567",
      "abc@g.us",
      "491701234567@s.whatsapp.net@x",
      "491701234567@example.com",
      "4917012345678 and more",
      "x".repeat(500),
    ])
      refused(typed);
    refused("0170 1234567"); // no country code: which country?
    refused("https://chat.whatsapp.com/AbCdEf", /invite link/);
    refused("15559999999_491701234567@s.whatsapp.net", /another|account \+15559999999/);
  });

  it("names the other keys of the same chat: the other account's view and the bare forms stored before", () => {
    fc.assert(
      fc.property(number, number, (a, b) => {
        fc.pre(a !== b);
        const mine = typedChatId(b, a);
        assert.ok(sameChatIds(mine).includes(typedChatId(a, b)), "the other account's key of this chat");
        assert.ok(sameChatIds(mine).includes(b));
        assert.ok(sameChatIds(mine).includes(`${b}@s.whatsapp.net`));
        assert.ok(!sameChatIds(mine).includes(mine));
      }),
      fuzzParams(100),
    );
    assert.deepEqual(sameChatIds("120363000000000009@g.us"), []);
  });
});

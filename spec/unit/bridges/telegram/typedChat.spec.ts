import assert from "node:assert/strict";
import fc from "fast-check";
import { parseTypedChat } from "../../../../bridges/telegram/typedChat";
import { BridgeError } from "../../../../src/core/errors";
import { fuzzParams } from "../../../harness/fuzz";

/** A supergroup's internal id (its chat id is -100 followed by it). */
const internal = fc.bigInt({ min: 1n, max: 10n ** 12n }).map(String);
const username = fc.stringMatching(/^[a-zA-Z][a-zA-Z0-9_]{3,20}[a-zA-Z0-9]$/);
const pad = fc.constantFrom("", " ", "\t", "  ");

describe("Telegram: the chat a person types for link", () => {
  it("property: a chat id, its message links and their spacing give the same id", () => {
    fc.assert(
      fc.property(internal, fc.nat(99_999), pad, (id, msg, sp) => {
        const want = { id: `-100${id}` };
        for (const typed of [
          `-100${id}`,
          `https://t.me/c/${id}/${msg + 1}`,
          `t.me/c/${id}`,
          `http://telegram.me/c/${id}/1`,
        ])
          assert.deepEqual(parseTypedChat(sp + typed + sp), want, typed);
        assert.deepEqual(parseTypedChat(`https://t.me/c/${id}/7/${msg + 1}`), { id: `-100${id}/7` });
        assert.deepEqual(parseTypedChat(`-100${id}/7`), { id: `-100${id}/7` });
      }),
      fuzzParams(200),
    );
  });

  it("property: @name, t.me/name and its message links give the same name, in any case", () => {
    fc.assert(
      fc.property(username, pad, (name, sp) => {
        const want = { username: name.toLowerCase() };
        for (const typed of [
          `@${name}`,
          `t.me/${name}`,
          `https://t.me/${name}/123`,
          `https://telegram.me/${name.toUpperCase()}`,
          `tg://resolve?domain=${name}`,
          `https://t.me/${name}?start=x`,
        ])
          assert.deepEqual(parseTypedChat(sp + typed + sp), want, typed);
      }),
      fuzzParams(200),
    );
  });

  it("property: any text is a chat id, a name, or a refusal that says what to give", () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: "binary", maxLength: 40 })),
        (typed) => {
          let got: ReturnType<typeof parseTypedChat>;
          try {
            got = parseTypedChat(typed);
          } catch (err) {
            assert.ok(err instanceof BridgeError, String(err));
            assert.match(err.userMessage, /is not a Telegram chat.*chat id/);
            return;
          }
          if ("id" in got) assert.match(got.id, /^-?[1-9]\d*(\/[1-9]\d*)?$/);
          else assert.match(got.username, /^[a-z][a-z0-9_]{3,30}[a-z0-9]$/);
        },
      ),
      fuzzParams(500),
    );
  });

  it("refuses garbage and invite links with a text saying what to give", () => {
    for (const typed of [
      "",
      "hello world",
      "@abc",
      "-0012",
      "12345678901234567890",
      "t.me/",
      "https://example.com/x",
    ])
      assert.throws(
        () => parseTypedChat(typed),
        (e: unknown) => e instanceof BridgeError && /is not a Telegram chat/.test(e.userMessage),
        typed,
      );
    for (const typed of ["https://t.me/+AbCdEf123", "t.me/joinchat/AbCdEf"])
      assert.throws(
        () => parseTypedChat(typed),
        (e: unknown) => e instanceof BridgeError && /invite link/.test(e.userMessage),
        typed,
      );
  });
});

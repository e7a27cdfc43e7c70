import assert from "node:assert/strict";
import fc from "fast-check";
import { discordToMatrix } from "../../../bridges/discord/convert/index";
import { fillInlineImages, resolveInlineImages } from "../../../src/core/inlineImages";
import { fuzzParams } from "../../harness/fuzz";

const names = {
  user: (id: string) => ({ name: id }),
  channel: (id: string) => ({ name: id }),
  role: () => undefined,
};

describe("inline images (custom emoji) in a message's HTML", () => {
  it("Discord custom emoji become <img data-mx-emoticon> with the image id, and the mxc or the alt text fills it", async () => {
    const ids: string[] = [];
    const out = discordToMatrix("so <:blob:123> and <a:party:456>!", {
      ...names,
      emoji: (id) => {
        ids.push(id);
        return id;
      },
    });
    assert.equal(out.body, "so :blob: and :party:!");
    assert.deepEqual(ids, ["123", "456"]);
    const mxcs = await resolveInlineImages(
      [
        { id: "123", ref: { key: "cdn/emojis/123.png" } },
        { id: "456", ref: { key: "cdn/emojis/456.gif" } },
      ],
      async (ref) => (ref.key.endsWith(".png") ? "mxc://hs/blob" : undefined),
    );
    assert.equal(
      fillInlineImages(out.html!, mxcs),
      'so <img data-mx-emoticon height="32" src="mxc://hs/blob" alt=":blob:" title=":blob:"> and :party:!',
    );
    // Without an emoji resolver (edits): the name as text, as before.
    assert.equal(discordToMatrix("<:blob:123>", names).body, ":blob:");
  });

  it("fuzz: any HTML and any image list give HTML without a clawbridge-inline source left", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.string({ maxLength: 200 }),
        fc.array(fc.record({ id: fc.string({ maxLength: 5 }), alt: fc.string({ maxLength: 10 }) }), {
          maxLength: 4,
        }),
        fc.anything(),
        async (text, imgs, junk) => {
          const html =
            text +
            imgs
              .map(
                (i) =>
                  `<img src="clawbridge-inline:${i.id.replace(/"/g, "")}" alt="${i.alt.replace(/"/g, "")}">`,
              )
              .join("");
          const list = [
            ...imgs.map((i, n) => ({ id: i.id.replace(/"/g, ""), ref: { key: "k".repeat(n + 1) } })),
            junk,
          ] as never[];
          // Every other image has an upload; the rest fall back to their alt text.
          const mxcs = await resolveInlineImages(list, async (ref) =>
            ref.key.length % 2 === 1 ? "mxc://hs/x" : undefined,
          );
          const out = fillInlineImages(html, mxcs);
          assert.ok(!/src="clawbridge-inline:/.test(out.slice(text.length)), out);
        },
      ),
      fuzzParams(300),
    );
  });
});

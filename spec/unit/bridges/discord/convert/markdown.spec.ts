import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import {
  discordToMatrix,
  htmlToDiscord,
  type MentionResolver,
} from "../../../../../bridges/discord/convert/index";

interface Fixtures {
  discordToMatrix: Array<{ name: string; in: string; body: string; html?: string }>;
  htmlToDiscord: Array<{ name: string; in: string; out: string; users?: string[] }>;
}

const fixtures = JSON.parse(
  readFileSync(path.resolve(__dirname, "../../../../fixtures/discord/markdown.json"), "utf8"),
) as Fixtures;

const names: MentionResolver = {
  user: (id) => ({ name: id === "111" ? "Ann" : id, mxid: `@_discord_${id}:hs.test` }),
  channel: (id) => ({ name: id === "222" ? "general" : id, alias: `#_discord_${id}:hs.test` }),
  role: (id) => (id === "333" ? "mods" : undefined),
};

const pills = {
  discordUser: (mxid: string) => /^@_discord_(\d+):hs\.test$/.exec(mxid)?.[1],
  discordChannel: (room: string) => /^#_discord_(\d+):hs\.test$/.exec(room)?.[1],
};

describe("Discord convert: markdown → Matrix (fixture table)", () => {
  for (const f of fixtures.discordToMatrix) {
    it(f.name, () => {
      const out = discordToMatrix(f.in, names);
      assert.equal(out.body, f.body);
      assert.equal(out.html, f.html);
    });
  }
});

describe("Discord convert: Matrix HTML → markdown (fixture table)", () => {
  for (const f of fixtures.htmlToDiscord) {
    it(f.name, () => {
      const out = htmlToDiscord(f.in, pills);
      assert.equal(out.content, f.out);
      assert.deepEqual(out.users, f.users ?? []);
    });
  }

  it("round-trips formatting Discord → Matrix → Discord", () => {
    const src = "**bold** *it* __u__ ~~s~~ ||sp|| `c` <@111>";
    const html = discordToMatrix(src, names).html!;
    assert.equal(htmlToDiscord(html, pills).content, src);
  });
});

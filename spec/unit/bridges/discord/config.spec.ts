import assert from "node:assert/strict";
import { botIdOfToken, isBotToken, readDiscordConfig } from "../../../../bridges/discord/config";
import { botToken } from "../../../standins/discord/harness";

describe("Discord config", () => {
  const token = botToken("123456789012345678");

  it("defaults everything but the token and owner", () => {
    const c = readDiscordConfig({ bot_token: token, owner: "@me:hs" });
    assert.equal(c.apiRoot, "https://discord.com/api");
    assert.equal(c.cdnRoot, "https://cdn.discordapp.com");
    assert.equal(c.maxUploadBytes, 10 * 1024 * 1024);
    assert.equal(c.dms, true);
    assert.equal(c.moderation, false);
    assert.equal(c.guilds.size, 0);
  });

  const bad: Array<[string, Record<string, unknown>, RegExp]> = [
    [
      "owner missing",
      { bot_token: token },
      /platforms\.discord\.owner: is missing \(needed because bot_token is set\)/,
    ],
    [
      "token malformed",
      { bot_token: "nope", owner: "@me:hs" },
      /platforms\.discord\.bot_token: must be a bot token/,
    ],
    [
      "owner not an mxid",
      { bot_token: token, owner: "me" },
      /platforms\.discord\.owner: must be a Matrix user id/,
    ],
    [
      "guild ids as numbers",
      { guilds: [123] },
      /platforms\.discord\.guilds\[0\]: must be text: put the value in quotes/,
    ],
    [
      "channel filter not a list",
      { channels: "123" },
      /platforms\.discord\.channels: must be a list \(e\.g\. \["123456789012345678"\]\)/,
    ],
    [
      "a key is misspelt",
      { bot_tokn: token },
      /platforms\.discord\.bot_tokn: unknown key 'bot_tokn' \(did you mean 'bot_token'\?\)/,
    ],
    ["api_root not a URL", { api_root: "ftp://x" }, /platforms\.discord\.api_root: must be an http\(s\) URL/],
    [
      "negative upload limit",
      { max_upload_bytes: -1 },
      /platforms\.discord\.max_upload_bytes: must be at least 1/,
    ],
    [
      "moderation not a boolean",
      { moderation: "yes" },
      /platforms\.discord\.moderation: must be true or false/,
    ],
  ];
  for (const [what, section, message] of bad) {
    it(`names the key when ${what}`, () => assert.throws(() => readDiscordConfig(section), message));
  }

  it("reads the bot id from the token", () => {
    assert.ok(isBotToken(token));
    assert.equal(botIdOfToken(token), "123456789012345678");
  });
});

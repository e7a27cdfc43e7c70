import assert from "node:assert/strict";
import { readSlackConfig } from "../../../../bridges/slack/config";

const bot = "xoxb-1-2-abc";
const app = "xapp-1-A1-abc";

describe("platforms.slack config", () => {
  it("reads one workspace at the top level and more under workspaces, with defaults", () => {
    const c = readSlackConfig({
      owner: "@me:hs",
      bot_token: bot,
      app_token: app,
      workspaces: [{ bot_token: "xoxb-9-9-z", signing_secret: "s3cret", http_port: 3100 }],
    });
    assert.equal(c.workspaces.length, 2);
    assert.equal(c.workspaces[0]!.appToken, app);
    assert.equal(c.workspaces[1]!.signingSecret, "s3cret");
    assert.equal(c.workspaces[1]!.httpPort, 3100);
    assert.equal(c.apiUrl, "https://slack.com/api/");
    assert.equal(c.relayTemplate, "*{displayname}*: {message}");
    assert.equal(c.maxFileBytes, 100 * 1024 * 1024);
  });

  it("needs no workspace at all (logins come by command)", () => {
    assert.deepEqual(readSlackConfig({}).workspaces, []);
  });

  const refuses = (section: Record<string, unknown>, message: RegExp) =>
    assert.throws(() => readSlackConfig(section), message);

  it("names the key and the fix for bad values", () => {
    refuses(
      { owner: "@me:hs", bot_token: "xoxp-user" },
      /^ConfigError: .*\nplatforms\.slack\.bot_token: must be a bot token \(xoxb-/,
    );
    refuses(
      { owner: "@me:hs", bot_token: bot },
      /platforms\.slack: give app_token \(Socket Mode, recommended\) or signing_secret/,
    );
    refuses(
      { owner: "@me:hs", workspaces: [{ bot_token: bot, app_token: "xoxb-wrong" }] },
      /platforms\.slack\.workspaces\[0\]\.app_token: must be an app-level token \(xapp-/,
    );
    refuses(
      { owner: "@me:hs", workspaces: [{ app_token: app }] },
      /platforms\.slack\.workspaces\[0\]\.bot_token: is missing: add it/,
    );
    refuses(
      { bot_token: bot, app_token: app },
      /platforms\.slack\.owner: is missing \(needed because bot_token is set\)/,
    );
    refuses(
      { owner: "me", bot_token: bot, app_token: app },
      /platforms\.slack\.owner: must be a Matrix user id/,
    );
    refuses({ api_url: "ftp://x" }, /platforms\.slack\.api_url: must be an http\(s\) URL/);
    refuses(
      { owner: "@me:hs", workspaces: [{ bot_token: bot, app_tokn: app }] },
      /platforms\.slack\.workspaces\[0\]\.app_tokn: unknown key 'app_tokn' \(did you mean 'app_token'\?\)/,
    );
    refuses({ workspaces: "x" }, /platforms\.slack\.workspaces: must be a list/);
    refuses({ max_file_bytes: 0 }, /platforms\.slack\.max_file_bytes: must be at least 1/);
    refuses(
      {
        owner: "@me:hs",
        workspaces: [
          { bot_token: bot, app_token: app },
          { bot_token: bot, app_token: app },
        ],
      },
      /the same bot_token is listed twice/,
    );
  });
});

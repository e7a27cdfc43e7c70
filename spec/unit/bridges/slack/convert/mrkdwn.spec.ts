import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { matrixToMrkdwn, mentionedUsers, mrkdwnToMatrix } from "../../../../../bridges/slack/convert/index";

const FIXTURES = path.resolve(__dirname, "../../../../fixtures/slack");
const load = <T>(name: string): T[] => JSON.parse(readFileSync(path.join(FIXTURES, name), "utf8")) as T[];

const users: Record<string, string> = { U0UMA: "Uma" };
const toMatrix = {
  user: (id: string) => ({ mxid: `@_slack_t0aaa_${id.toLowerCase()}:hs.test`, name: users[id] ?? id }),
  channelName: (id: string) => (id === "C0GEN" ? "general" : undefined),
};
const toSlack = {
  slackUser: (mxid: string) => /^@_slack_t0aaa_(u[a-z0-9]+):hs\.test$/.exec(mxid)?.[1]?.toUpperCase(),
};

describe("Slack mrkdwn → Matrix (fixture table)", () => {
  for (const f of load<{ name: string; mrkdwn: string; text: string; html?: string }>(
    "mrkdwn-to-matrix.json",
  )) {
    it(f.name, () => {
      const out = mrkdwnToMatrix(f.mrkdwn, toMatrix);
      assert.equal(out.text, f.text);
      assert.equal(out.html, f.html);
    });
  }

  it("finds mentioned users to look up first", () => {
    assert.deepEqual(mentionedUsers("<@U1> and <@W2|w> and <@U1>"), ["U1", "W2"]);
  });
});

describe("Matrix → Slack mrkdwn (fixture table)", () => {
  for (const f of load<{ name: string; body: string; html?: string; mrkdwn: string }>(
    "matrix-to-mrkdwn.json",
  )) {
    it(f.name, () => {
      assert.equal(matrixToMrkdwn(f.body, f.html, toSlack), f.mrkdwn);
    });
  }
});

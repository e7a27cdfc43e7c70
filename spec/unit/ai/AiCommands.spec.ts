import { strict as assert } from "node:assert";
import { helpText, usageTable } from "../../../src/ai/AiCommands";
import { configFromObject } from "../../../src/config/Config";

const HS = { url: "http://127.0.0.1:8008", domain: "localhost" };

function aiConfig(limits: Record<string, number> = {}) {
  return configFromObject({ homeserver: HS, database: { url: "" }, ai: { limits } }).ai;
}

describe("ai: command replies", () => {
  it("help lists every command to permitted users, and only the open ones to others", () => {
    const ai = aiConfig();
    const full = helpText(ai, true);
    for (const name of ["mode", "model", "provider", "prompt", "forget", "usage", "leave", "help"])
      assert.match(full, new RegExp(`^!ai ${name}\\b`, "m"));
    assert.doesNotMatch(full, /need the bridge permission level/);
    const open = helpText(ai, false);
    assert.deepEqual(
      open
        .split("\n")
        .filter((l) => l.startsWith("!ai "))
        .map((l) => l.split(" ")[1]),
      ["usage", "help"],
    );
    assert.match(open, /The other commands need the bridge permission level 'user'\.$/);
  });

  it("usage is a table of today's and total tokens and answers for the room and the user, with daily budgets", () => {
    const t = (tokens: number, answers: number) => ({ tokens, answers });
    const { body, html } = usageTable(aiConfig({ room_daily_tokens: 50_000 }), {
      roomToday: t(1234, 3),
      roomTotal: t(98_765, 40),
      userToday: t(200, 1),
      userTotal: t(5000, 12),
    });
    assert.equal(
      body,
      [
        "AI usage",
        "                    today (UTC)      total",
        "this room: tokens   1,234 of 50,000  98,765",
        "this room: answers  3                40",
        "you: tokens         200              5,000",
        "you: answers        1                12",
      ].join("\n"),
    );
    assert.equal(
      html,
      "<p>AI usage</p><table><thead><tr><th></th><th>today (UTC)</th><th>total</th></tr></thead><tbody>" +
        "<tr><td>this room: tokens</td><td>1,234 of 50,000</td><td>98,765</td></tr>" +
        "<tr><td>this room: answers</td><td>3</td><td>40</td></tr>" +
        "<tr><td>you: tokens</td><td>200</td><td>5,000</td></tr>" +
        "<tr><td>you: answers</td><td>1</td><td>12</td></tr></tbody></table>",
    );
  });
});

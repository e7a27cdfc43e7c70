import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileRef, mapEvent, parseRemoteUserId, remoteUserId } from "../../../../bridges/slack/inbound";

interface Case {
  name: string;
  event?: Record<string, unknown>;
  body?: Record<string, unknown>;
  expect?: unknown[];
  skipped?: string;
  malformed?: string;
}

const CASES = JSON.parse(
  readFileSync(path.resolve(__dirname, "../../../fixtures/slack/events.json"), "utf8"),
) as Case[];

const ctx = {
  team: "T0AAA",
  botUserId: "U0BOT",
  botId: "B0BOT",
  ghostUserId: (u: string) => `@_slack_t0aaa_${u.toLowerCase()}:hs.test`,
  profile: (u: string) => (u === "U0UMA" ? { displayName: "Uma" } : undefined),
};

describe("Slack events → RemoteEvents (fixture table)", () => {
  for (const c of CASES) {
    it(c.name, () => {
      const body = c.body ?? { type: "event_callback", team_id: "T0AAA", event_id: "Ev1", event: c.event };
      const out = mapEvent(body, ctx);
      if (c.malformed) assert.deepEqual(out, { ok: false, reason: c.malformed });
      else if (c.skipped) assert.deepEqual(out, { ok: true, events: [], skipped: c.skipped });
      else assert.deepEqual(out, { ok: true, events: c.expect });
    });
  }

  it("keeps the team in remote user ids, reversibly", () => {
    assert.equal(remoteUserId("T0AAA", "U0UMA"), "t0aaa_u0uma");
    assert.deepEqual(parseRemoteUserId("t0aaa_u0uma"), { team: "T0AAA", user: "U0UMA" });
    assert.equal(parseRemoteUserId("u0uma"), undefined);
  });
});

describe("Slack files as media refs", () => {
  it("carries image size and audio/video duration when Slack gives them", () => {
    assert.deepEqual(
      fileRef({
        url_private_download: "https://files.example/x.png",
        name: "x.png",
        mimetype: "image/png",
        size: 12,
        original_w: 800,
        original_h: 600,
      }),
      {
        key: "https://files.example/x.png",
        name: "x.png",
        mimetype: "image/png",
        size: 12,
        width: 800,
        height: 600,
      },
    );
    assert.deepEqual(
      fileRef({ url_private: "https://files.example/a.m4a", duration_ms: 4200, original_w: "9" }),
      {
        key: "https://files.example/a.m4a",
        durationMs: 4200,
      },
    );
    assert.equal(fileRef({ name: "no url" }), undefined);
  });
});

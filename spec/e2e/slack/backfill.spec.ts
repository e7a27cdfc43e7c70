import assert from "node:assert/strict";
import type { MatrixEvent } from "../../harness/MatrixTestClient";
import { ghost, isText, type SlackRig, startSlackRig, UGO, UMA } from "./slackRig";

const LIMIT = 10;
const relation = (e: MatrixEvent) => (e.content["m.relates_to"] ?? {}) as Record<string, unknown>;

/**
 * A Slack channel with history gets a portal: its room shows the newest messages and thread
 * replies (up to backfill.initial_limit) from their senders' ghosts with their Slack times, the
 * replies in their threads, before the live messages, each once.
 */
describe("Slack: a new portal is backfilled from conversations.history and .replies (real Synapse)", function () {
  this.timeout(180_000);
  let r: SlackRig;

  before(async () => {
    r = await startSlackRig("BF", { sections: { backfill: { initial_limit: LIMIT } } });
  });
  after(async () => {
    await r?.stop();
  });

  it("brings the newest messages and thread replies over with their times, before live ones that race it", async () => {
    const { slack, A, CH, alice } = r;
    const t0 = Date.now() - 7_200_000;
    const past = Array.from({ length: 12 }, (_, i) => {
      const body = `sp ${String(i).padStart(2, "0")}`;
      const at = t0 + i * 60_000;
      const user = i % 2 ? UGO : UMA;
      return { body, at, user, ts: slack.pastMessage(A, { channel: CH, user, text: body, at }) };
    });
    const parent = past[9]!;
    const replies = [1, 2].map((n) => {
      const body = `sp reply ${n}`;
      const at = parent.at + n * 10_000;
      return {
        body,
        at,
        user: UGO,
        ts: slack.pastMessage(A, { channel: CH, user: UGO, text: body, at, thread_ts: parent.ts }),
      };
    });
    const live = ["slack live 0", "slack live 1", "slack live 2"];
    for (const text of live) slack.injectMessage(A, { channel: CH, user: UMA, text });
    const room = await r.portal(CH);
    await alice.waitFor((e) => e.room_id === room && isText("slack live 2")(e), { timeoutMs: 60_000 });
    const got = (await alice.messages(room, { dir: "f", limit: 200 })).filter(
      (e) => e.type === "m.room.message",
    );
    // The newest LIMIT of the channel: the three live ones, and seven before them.
    const merged = [...past.slice(0, 10), ...replies, ...past.slice(10)];
    const want = merged.slice(-(LIMIT - live.length));
    assert.deepEqual(
      got.map((e) => e.content.body),
      [...want.map((m) => m.body), ...live],
    );
    for (const [i, m] of want.entries()) {
      assert.equal(got[i]!.origin_server_ts, m.at, `origin_server_ts of ${m.body}`);
      assert.equal(got[i]!.sender, ghost(A, m.user), `sender of ${m.body}`);
    }
    const parentEvent = got.find((e) => e.content.body === parent.body)!;
    for (const reply of replies) {
      const ev = got.find((e) => e.content.body === reply.body)!;
      assert.equal(relation(ev).rel_type, "m.thread");
      assert.equal(relation(ev).event_id, parentEvent.event_id);
    }
    // Each live message once, after the history.
    slack.injectMessage(A, { channel: CH, user: UGO, text: "slack barrier" });
    await alice.waitFor((e) => e.room_id === room && isText("slack barrier")(e), { timeoutMs: 30_000 });
    const after = (await alice.messages(room, { dir: "f", limit: 200 })).filter(
      (e) => e.type === "m.room.message",
    );
    assert.deepEqual(
      after.map((e) => e.content.body),
      [...want.map((m) => m.body), ...live, "slack barrier"],
    );
  });
});

import { strict as assert } from "node:assert";
import type { webApi } from "@slack/bolt";
import fc from "fast-check";
import { historyNewest } from "../../../../bridges/slack/history";
import { slackTsOrderKey } from "../../../../src/core/orderKey";
import { fuzzParams } from "../../../harness/fuzz";

/**
 * What conversations.history and conversations.replies answer is read at the platform's edge:
 * whatever the pages hold (wrong types, nulls, junk ts, repeated messages, endless cursors), a
 * new portal's history is at most `limit` messages with real ts values, each once, in ts order.
 */
describe("Slack history for a new portal, against hostile pages (fuzz)", () => {
  const ts = fc
    .tuple(fc.integer({ min: 1_600_000_000, max: 1_800_000_000 }), fc.integer({ min: 0, max: 999_999 }))
    .map(([s, u]) => `${s}.${String(u).padStart(6, "0")}`);
  const message = fc.record(
    {
      ts: fc.oneof(ts, fc.anything()),
      text: fc.oneof(fc.string({ maxLength: 10 }), fc.anything()),
      user: fc.constantFrom("U1", "U2"),
      thread_ts: fc.oneof(ts, fc.constant(undefined)),
      latest_reply: fc.oneof(ts, fc.constant(undefined), fc.anything()),
    },
    { requiredKeys: [] },
  );
  const page = fc.record(
    {
      messages: fc.oneof(fc.array(fc.oneof(message, fc.anything()), { maxLength: 12 }), fc.anything()),
      has_more: fc.oneof(fc.boolean(), fc.anything()),
      response_metadata: fc.oneof(
        fc.record({ next_cursor: fc.oneof(fc.string(), fc.anything()) }),
        fc.anything(),
      ),
    },
    { requiredKeys: [] },
  );

  it("never throws and gives at most `limit` distinct messages in ts order", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(page, { minLength: 1, maxLength: 6 }),
        fc.array(page, { minLength: 1, maxLength: 3 }),
        fc.integer({ min: 0, max: 30 }),
        async (history, replies, limit) => {
          let h = 0;
          let r = 0;
          const web = {
            conversations: {
              history: async () => history[h++ % history.length],
              replies: async () => replies[r++ % replies.length],
            },
          } as unknown as webApi.WebClient;
          const got = await historyNewest(web, "C1", limit);
          assert.ok(got.length <= limit);
          const keys = got.map((m) => slackTsOrderKey(String(m.ts)));
          for (const k of keys) assert.ok(k !== undefined && typeof got[0]!.ts === "string");
          for (let i = 1; i < keys.length; i++) assert.ok(keys[i - 1]! < keys[i]!, "strictly in ts order");
        },
      ),
      fuzzParams(200),
    );
  });
});

import assert from "node:assert/strict";
import fc from "fast-check";
import type { Update } from "grammy/types";
import { richMessage } from "../../../../../bridges/telegram/convert/rich";
import { InboundMapper } from "../../../../../bridges/telegram/inbound";
import type { RemoteEvent } from "../../../../../src/core/connector";
import { fuzzParams } from "../../../../harness/fuzz";

const mapper = () =>
  new InboundMapper({ botId: () => 1, ghostUserId: (id) => `@_telegram_${id}:hs`, allowed: () => true });

const message = (fields: Record<string, unknown>) => ({
  update_id: 1,
  message: {
    message_id: 7,
    date: 1_700_000_000,
    chat: { id: -100, type: "supergroup", title: "G" },
    from: { id: 42, is_bot: false, first_name: "Uma" },
    ...fields,
  },
});

describe("telegram convert: places, contacts, polls, dice", () => {
  it("examples: accuracy kept, a quiz is undisclosed, an unreadable kind or unknown field is a notice", () => {
    const map = (fields: Record<string, unknown>) => {
      const r = mapper().map(message(fields) as unknown as Update);
      assert.ok(r.ok && r.events.length === 1, JSON.stringify(r));
      return r.events[0] as Extract<RemoteEvent, { kind: "message" }>;
    };
    assert.deepEqual(map({ location: { latitude: 10, longitude: 20, horizontal_accuracy: 12.5 } }).location, {
      lat: 10,
      lon: 20,
      accuracyM: 12.5,
    });
    const quiz = map({
      poll: {
        id: "1",
        question: "2+2?",
        options: [
          { text: "4", voter_count: 0 },
          { text: "5", voter_count: 0 },
        ],
        type: "quiz",
        is_anonymous: false,
        allows_multiple_answers: false,
      },
    });
    assert.equal(quiz.text, "Quiz: 2+2?\n1. 4\n2. 5");
    assert.equal(quiz.poll?.disclosed, false);
    assert.equal(quiz.poll?.maxSelections, 1);
    const bad = map({ location: { latitude: 120, longitude: 0 } });
    assert.deepEqual(
      [bad.msgtype, bad.text, bad.location],
      ["notice", "Uma sent a location, which the bridge cannot show", undefined],
    );
    assert.equal(map({ invoice: { title: "x" } }).text, "Uma sent an invoice, which the bridge cannot show");
    assert.equal(map({ story: { chat: {}, id: 1 } }).text, "Uma sent a story, which the bridge cannot show");
    assert.equal(map({ hologram_v2: {} }).text, "Uma sent a hologram v2, which the bridge cannot show");
    assert.equal(map({ dice: { emoji: "🎯", value: 6 } }).text, "🎯 threw 6");
    assert.equal(map({ contact: { phone_number: "+1 555", first_name: "" } }).text, "Contact: +1 555");
    assert.equal(richMessage({ forum_topic_created: { name: "t" } }, "Uma"), undefined);
  });

  it("property: arbitrary location, venue, contact, poll and dice payloads never throw, stay in range and bounded", () => {
    const num = fc.oneof(
      fc.double(),
      fc.integer(),
      fc.double({ min: -90, max: 90, noNaN: true }),
      fc.constantFrom(Number.NaN, 1e308, -0, "52.5", null),
    );
    const str = fc.oneof(fc.string({ maxLength: 50 }), fc.string({ maxLength: 5000 }), fc.anything());
    const loc = fc.oneof(
      fc.record(
        { latitude: num, longitude: num, horizontal_accuracy: num, live_period: num },
        { requiredKeys: [] },
      ),
      fc.anything(),
    );
    const payload = fc.oneof(
      fc.record({ location: loc }),
      fc.record({
        venue: fc.oneof(fc.record({ location: loc, title: str, address: str }), fc.anything()),
        location: loc,
      }),
      fc.record({
        contact: fc.oneof(
          fc.record(
            {
              phone_number: str,
              first_name: str,
              last_name: str,
              user_id: num,
              vcard: fc.oneof(str, fc.string({ minLength: 70_000, maxLength: 70_001 })),
            },
            { requiredKeys: [] },
          ),
          fc.anything(),
        ),
      }),
      fc.record({
        poll: fc.oneof(
          fc.record(
            {
              id: str,
              question: str,
              options: fc.oneof(
                fc.array(
                  fc.oneof(
                    fc.record({ text: str, voter_count: num, persistent_id: str }, { requiredKeys: [] }),
                    fc.anything(),
                  ),
                  { maxLength: 40 },
                ),
                fc.anything(),
              ),
              type: fc.constantFrom("regular", "quiz", 3, undefined),
              allows_multiple_answers: fc.oneof(fc.boolean(), fc.anything()),
              is_anonymous: fc.boolean(),
            },
            { requiredKeys: [] },
          ),
          fc.anything(),
        ),
      }),
      fc.record({
        dice: fc.oneof(fc.record({ emoji: str, value: num }, { requiredKeys: [] }), fc.anything()),
      }),
    );
    const other = fc.dictionary(fc.string({ maxLength: 60 }), fc.anything(), { maxKeys: 4 });
    fc.assert(
      fc.property(fc.oneof(payload, other), (fields) => {
        const why = JSON.stringify(fields)?.slice(0, 300);
        // The converter itself never throws (the mapper would catch it and drop the message).
        const rich = richMessage(message(fields).message, "Uma");
        assert.ok(rich === undefined || rich.text.length <= 25_000, why);
        const r = mapper().map(message(fields) as unknown as Update);
        if (!r.ok) return;
        for (const e of r.events) {
          if (e.kind !== "message" && e.kind !== "edit") continue;
          assert.ok(e.text.length <= 25_000, `text of ${e.text.length}: ${why}`);
          if ("location" in e && e.location) {
            const { lat, lon, accuracyM, description } = e.location;
            assert.ok(Number.isFinite(lat) && Math.abs(lat) <= 90, why);
            assert.ok(Number.isFinite(lon) && Math.abs(lon) <= 180, why);
            assert.ok(accuracyM === undefined || (accuracyM >= 0 && accuracyM <= 1500), why);
            assert.ok((description?.length ?? 0) <= 1000, why);
          }
          if (e.kind !== "message") continue;
          if (e.poll) {
            assert.ok(e.poll.answers.length >= 1 && e.poll.answers.length <= 20, why);
            assert.equal(new Set(e.poll.answers.map((a) => a.id)).size, e.poll.answers.length, why);
            assert.ok(e.poll.maxSelections >= 1 && e.poll.maxSelections <= e.poll.answers.length, why);
            assert.ok(
              e.poll.question.length <= 300 && e.poll.answers.every((a) => a.text.length <= 300),
              why,
            );
          }
          for (const a of e.attachments ?? []) assert.ok((a.inline?.length ?? 0) <= 64 * 1024, why);
          if (e.msgtype === "notice") assert.ok(e.text.length <= 400, why);
        }
      }),
      fuzzParams(2000),
    );
    // Each rich kind, however malformed, is bridged: as itself or as a notice, never dropped.
    fc.assert(
      fc.property(payload, (fields) => {
        fc.pre(Object.values(fields).some((v) => v !== undefined)); // `{ poll: undefined }` is no poll
        const r = mapper().map(message(fields) as unknown as Update);
        assert.ok(r.ok && r.events.length === 1, JSON.stringify(fields)?.slice(0, 300));
      }),
      fuzzParams(1000),
    );
  });
});

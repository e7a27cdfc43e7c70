import { strict as assert } from "node:assert";
import type { WAMessage } from "@whiskeysockets/baileys";
import fc from "fast-check";
import { loadBaileys } from "../../../../bridges/whatsapp/baileys";
import { HISTORY_PER_CHAT, SyncedHistory } from "../../../../bridges/whatsapp/historySync";
import { fuzzParams } from "../../../harness/fuzz";

const OWN = "15550000001";
const ctx = { ownNumber: OWN, sentByBridge: (id: string) => id.startsWith("BRIDGE") };
const wa = (id: string, from: string, text: string, seconds: number, fromMe = false): WAMessage =>
  ({
    key: { remoteJid: `${from}@s.whatsapp.net`, fromMe, id },
    message: { conversation: text },
    messageTimestamp: seconds,
    pushName: "Carla",
  }) as WAMessage;

describe("WhatsApp history sync kept for new portals", () => {
  before(async () => {
    await loadBaileys();
  });

  it("keeps each chat's messages once, as live ones are mapped, and gives the newest oldest first", () => {
    const h = new SyncedHistory();
    const kept = h.keep(ctx, [
      wa("M3", "15559990000", "three", 1_700_000_300),
      wa("M1", "15559990000", "one", 1_700_000_100),
      wa("M2", "15559990000", "two (from the phone)", 1_700_000_200, true),
      wa("BRIDGE1", "15559990000", "relayed by the bridge", 1_700_000_250, true),
      wa("M1", "15559990000", "one again", 1_700_000_100),
      wa("G1", "15558880000", "other chat", 1_700_000_150),
    ]);
    assert.equal(kept, 4);
    const chat = `${OWN}_15559990000@s.whatsapp.net`;
    const got = h.recent(chat, 10);
    assert.deepEqual(
      got.map((m) => [m.id, m.text, m.sender.id, m.timestamp]),
      [
        ["M1", "one", "15559990000", 1_700_000_100_000],
        ["M2", "two (from the phone)", OWN, 1_700_000_200_000],
        ["M3", "three", "15559990000", 1_700_000_300_000],
      ],
    );
    assert.deepEqual(
      h.recent(chat, 2).map((m) => m.id),
      ["M2", "M3"],
    );
    assert.deepEqual(h.recent("unknown", 5), []);
    assert.deepEqual(h.recent(chat, 0), []);
  });

  it("stores what it kept and gives it back in another process; a damaged stored value gives nothing", async () => {
    const kv = new Map<string, string>();
    const store = {
      kvGet: async (k: string) => kv.get(k),
      kvSet: async (k: string, v: string) => void kv.set(k, v),
    };
    const first = new SyncedHistory();
    first.keep(ctx, [
      wa("S1", "15556660000", "one", 1_700_000_100),
      wa("S2", "15556660000", "two", 1_700_000_200),
    ]);
    await first.store(store);
    const chat = `${OWN}_15556660000@s.whatsapp.net`;
    assert.deepEqual([...kv.keys()], [`history:${chat}`]);
    const again = new SyncedHistory();
    assert.deepEqual(
      (await again.recentStored(store, chat, 1)).map((m) => [m.id, m.text, m.timestamp]),
      [["S2", "two", 1_700_000_200_000]],
    );
    kv.set("history:broken", "{not json");
    assert.deepEqual(await again.recentStored(store, "broken", 5), []);
    kv.set("history:odd", JSON.stringify([null, 3, { id: 7 }]));
    assert.deepEqual(await again.recentStored(store, "odd", 5), []);
  });

  it("keeps at most HISTORY_PER_CHAT per chat, the newest", () => {
    const h = new SyncedHistory();
    const n = HISTORY_PER_CHAT + 5;
    h.keep(
      ctx,
      Array.from({ length: n }, (_, i) => wa(`X${i}`, "15557770000", `m${i}`, 1_700_000_000 + i)),
    );
    const got = h.recent(`${OWN}_15557770000@s.whatsapp.net`, n);
    assert.equal(got.length, HISTORY_PER_CHAT);
    assert.equal(got[0]!.id, "X5");
  });

  it("never throws on hostile history messages and gives at most `limit`, oldest first (fuzz)", () => {
    const anyKey = fc.record(
      {
        remoteJid: fc.oneof(
          fc.constantFrom("1555@s.whatsapp.net", "1@g.us", "status@broadcast"),
          fc.anything(),
        ),
        fromMe: fc.anything(),
        id: fc.oneof(fc.string({ maxLength: 6 }), fc.anything()),
        participant: fc.anything(),
      },
      { requiredKeys: [] },
    );
    const anyMessage = fc.record(
      {
        key: fc.oneof(anyKey, fc.anything()),
        message: fc.oneof(
          fc.record({ conversation: fc.oneof(fc.string(), fc.anything()) }),
          fc.record({ extendedTextMessage: fc.anything() }),
          fc.anything(),
        ),
        messageTimestamp: fc.oneof(fc.integer(), fc.anything()),
        pushName: fc.anything(),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(
        fc.array(anyMessage, { maxLength: 20 }),
        fc.integer({ min: 0, max: 10 }),
        (messages, limit) => {
          const h = new SyncedHistory();
          h.keep(ctx, messages as unknown as WAMessage[]);
          const got = h.recent(`${OWN}_1555@s.whatsapp.net`, limit);
          assert.ok(got.length <= limit);
          for (let i = 1; i < got.length; i++) assert.ok(got[i - 1]!.timestamp <= got[i]!.timestamp);
          assert.equal(new Set(got.map((m) => m.id)).size, got.length);
          assert.ok(got.every((m) => m.kind === "message" && typeof m.text === "string"));
        },
      ),
      fuzzParams(300),
    );
  });
});

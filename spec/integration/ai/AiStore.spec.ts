import { strict as assert } from "node:assert";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { AiStore, startOfUtcDay } from "../../../src/ai/AiStore";
import { Limits } from "../../../src/ai/Limits";
import { openDatabase } from "../../../src/store/Database";
import { Migrator } from "../../../src/store/Migrator";
import { PgStore } from "../../../src/store/PgStore";

/** The set fields only (unset settings read back as undefined). */
const set = (o: object) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));

describe("AI tables (migrations 002 and 007) on embedded PostgreSQL", function () {
  this.timeout(120_000);
  let dir: string;
  let store: PgStore;
  let ai: AiStore;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "clawbridge-aistore-"));
    const db = await openDatabase({ dataDir: dir, embeddedPort: 0, maxConnections: 4 });
    await new Migrator({ pool: db.pool }).migrate();
    store = await PgStore.open(db);
    ai = new AiStore(store);
  });

  after(async () => {
    await store?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("room settings: defaults for an unknown room, saved and read back, cleared with undefined", async () => {
    assert.deepEqual(await ai.getRoom("!new:x"), { roomId: "!new:x", joined: false });
    await ai.saveRoom({
      roomId: "!r:x",
      joined: true,
      mode: "always",
      provider: "p",
      model: "m",
      systemPrompt: "S",
      forgetEventId: "$f",
      forgetTs: 1_700_000_000_123,
    });
    assert.deepEqual(set(await ai.getRoom("!r:x")), {
      roomId: "!r:x",
      joined: true,
      mode: "always",
      provider: "p",
      model: "m",
      systemPrompt: "S",
      forgetEventId: "$f",
      forgetTs: 1_700_000_000_123,
    });
    await ai.saveRoom({ roomId: "!r:x", joined: false });
    assert.deepEqual(set(await ai.getRoom("!r:x")), { roomId: "!r:x", joined: false });
    await ai.saveRoom({ roomId: "!j:x", joined: true });
    assert.deepEqual(await ai.joinedRooms(), ["!j:x"]);
  });

  it("usage log: totals per room and user since a time, and answered triggers", async () => {
    const row = { roomId: "!u:x", userId: "@a:x", provider: "p", model: "m", latencyMs: 5 };
    await ai.logUsage({ ...row, triggerEventId: "$1", promptTokens: 10, completionTokens: 5, ok: true });
    await ai.logUsage({
      ...row,
      triggerEventId: "$2",
      promptTokens: 0,
      completionTokens: 0,
      ok: false,
      error: "boom",
    });
    await ai.logUsage({
      ...row,
      userId: "@b:x",
      triggerEventId: "$3",
      promptTokens: 7,
      completionTokens: 3,
      ok: true,
    });
    assert.deepEqual(await ai.roomUsage("!u:x", startOfUtcDay()), { tokens: 25, answers: 2 });
    assert.deepEqual(await ai.userUsage("@a:x", startOfUtcDay()), { tokens: 15, answers: 1 });
    assert.deepEqual(await ai.userUsage("@a:x", new Date(Date.now() + 60_000)), { tokens: 0, answers: 0 });
    assert.equal(await ai.answered("$1"), true);
    assert.equal(await ai.answered("$2"), false, "a failed attempt may be retried");
  });

  it("limits: per-minute windows slide, daily budgets come from the log", async () => {
    let now = Date.now();
    const limits = new Limits(
      { user_per_minute: 2, room_per_minute: 3, user_daily_tokens: 0, room_daily_tokens: 0 },
      ai,
      () => now,
    );
    assert.equal(await limits.check("!l:x", "@a:x"), undefined);
    assert.equal(await limits.check("!l:x", "@a:x"), undefined);
    assert.equal((await limits.check("!l:x", "@a:x"))?.scope, "user");
    assert.equal(await limits.check("!l:x", "@b:x"), undefined);
    const room = await limits.check("!l:x", "@c:x");
    assert.deepEqual([room?.scope, room?.kind], ["room", "rate"]);
    now += 61_000;
    assert.equal(await limits.check("!l:x", "@a:x"), undefined, "the window slid");
    const budget = new Limits(
      { user_per_minute: 0, room_per_minute: 0, user_daily_tokens: 15, room_daily_tokens: 100 },
      ai,
    );
    const hit = await budget.check("!u:x", "@a:x");
    assert.deepEqual([hit?.scope, hit?.kind], ["user", "budget"]);
    assert.match(hit!.text, /daily AI budget of 15 tokens/);
    assert.equal(await budget.check("!u:x", "@b:x"), undefined);
  });

  it("pending triggers: recorded once, attempts counted, first message kept, settled with the usage row", async () => {
    const ev = (id: string, room = "!p:x") => ({
      event_id: id,
      room_id: room,
      sender: "@a:x",
      type: "m.room.message",
      origin_server_ts: 1,
      content: { msgtype: "m.text", body: `ask ${id}` },
    });
    await ai.pending.add(ev("$p1"), true);
    await ai.pending.add(ev("$p1"), false); // a replayed event: the first record stays
    await ai.pending.add(ev("$p2"), false);
    await ai.pending.add(ev("$p3", "!q:x"), false);
    const all = await ai.pending.all();
    assert.deepEqual(
      all.map((p) => [p.event.event_id, p.asReply, p.attempts, p.firstEventId]),
      [
        ["$p1", true, 0, undefined],
        ["$p2", false, 0, undefined],
        ["$p3", false, 0, undefined],
      ],
    );
    assert.deepEqual(all[0]!.event, ev("$p1"));
    assert.deepEqual(await ai.pending.startAttempt("$p1"), { attempt: 0, firstEventId: undefined });
    await ai.pending.setFirstEvent("$p1", "$answer");
    assert.deepEqual(await ai.pending.startAttempt("$p1"), { attempt: 1, firstEventId: "$answer" });
    const usage = { roomId: "!p:x", userId: "@a:x", promptTokens: 1, completionTokens: 1, latencyMs: 1 };
    await ai.logUsage({ ...usage, triggerEventId: "$p1", ok: false }, { settle: false });
    assert.equal((await ai.pending.all()).length, 3, "a cancelled attempt stays pending");
    await ai.logUsage({ ...usage, triggerEventId: "$p1", ok: true }, { settle: true });
    assert.equal(await ai.answered("$p1"), true);
    assert.equal(await ai.pending.startAttempt("$p1"), undefined, "answered: no longer pending");
    await ai.pending.dropRoom("!p:x");
    assert.deepEqual(
      (await ai.pending.all()).map((p) => p.event.event_id),
      ["$p3"],
    );
    await ai.pending.drop("$p3");
    assert.deepEqual(await ai.pending.all(), []);
  });
});

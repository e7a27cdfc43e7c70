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

describe("AI tables (migration 002) on embedded PostgreSQL", function () {
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
    assert.deepEqual(await ai.roomUsage("!u:x", startOfUtcDay()), { tokens: 25, answers: 3 });
    assert.deepEqual(await ai.userUsage("@a:x", startOfUtcDay()), { tokens: 15, answers: 2 });
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
});

import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Audit } from "../../../src/core/Audit";
import { pruneMessageMap } from "../../../src/core/Erasure";
import { openDatabase } from "../../../src/store/Database";
import { PgStore } from "../../../src/store/PgStore";
import { Pruner } from "../../../src/store/Pruner";
import type { MessageRow } from "../../../src/store/types";

const DAY = 86_400_000;

describe("moderation tables (migration 014) on PostgreSQL", function () {
  this.timeout(120_000);
  let dir: string;
  let store: PgStore;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "clawbridge-moderation-"));
    store = await PgStore.open(await openDatabase({ dataDir: dir, embeddedPort: 0, maxConnections: 4 }));
  });
  after(async () => {
    await store?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const row = (id: string, daysAgo: number): MessageRow => ({
    platform: "testnet",
    chatId: "c1",
    remoteId: id,
    part: 0,
    roomId: "!r:hs",
    eventId: `$${id}`,
    senderMxid: "@_testnet_u:hs",
    remoteSender: "u",
    timestamp: new Date(Date.now() - daysAgo * DAY),
  });
  const remoteIds = async () =>
    (await store.query<{ remote_id: string }>("SELECT remote_id FROM message ORDER BY remote_id")).map(
      (r) => r.remote_id,
    );

  describe("message-map retention", () => {
    beforeEach(async () => {
      await store.query("DELETE FROM message");
    });

    it("deletes exactly the rows older than the retention, and counts them", async () => {
      await store.insertMessages([row("a-40d", 40), row("b-31d", 31), row("c-29d", 29), row("d-now", 0)]);
      assert.equal(await pruneMessageMap(store, 30), 2);
      assert.deepEqual(await remoteIds(), ["c-29d", "d-now"]);
      assert.equal(await pruneMessageMap(store, 30), 0, "a second pass finds nothing");
      assert.equal((await store.getMessagesByEvent("$a-40d")).length, 0, "pruned rows are gone from lookups");
      assert.equal((await store.getMessageByRemote("testnet", "c1", "c-29d")).length, 1);
    });

    it("runs periodically through the Pruner, and a failing pass does not stop it", async () => {
      await store.insertMessages([row("e-10d", 10), row("f-1d", 1)]);
      let failures = 1;
      const pruner = new Pruner({
        what: "message-map rows",
        prune: () => {
          if (failures-- > 0) return Promise.reject(new Error("database unavailable"));
          return pruneMessageMap(store, 7);
        },
        intervalMs: 50,
      });
      pruner.start();
      const end = Date.now() + 20_000;
      while ((await remoteIds()).includes("e-10d") && Date.now() < end)
        await new Promise((r) => setTimeout(r, 25));
      await pruner.stop();
      assert.deepEqual(await remoteIds(), ["f-1d"]);
    });
  });

  describe("audit log", () => {
    const audit = () => new Audit(store);

    it("records actions with each side's result and lists them newest first, per room or all", async () => {
      const a = audit();
      const first = await a.record({
        roomId: "!one:hs",
        action: "ban",
        actor: "@mod:hs",
        target: "@_testnet_x:hs",
        reason: "spam",
        results: [
          { where: "matrix", ok: true },
          { where: "testnet c1", ok: false, detail: "the platform answered 403" },
        ],
      });
      const second = await a.record({
        roomId: "!two:hs",
        action: "kick",
        actor: "@mod:hs",
        target: "@u:hs",
        results: [],
      });
      const third = await a.record({
        action: "forget",
        actor: "@admin:hs",
        target: "erased-testnet-00",
        results: [],
      });
      assert.ok(Number(first) < Number(second) && Number(second) < Number(third));

      const one = await a.list({ roomId: "!one:hs", limit: 10 });
      assert.equal(one.length, 1);
      assert.deepEqual(
        { ...one[0], createdAt: undefined },
        {
          id: first,
          roomId: "!one:hs",
          action: "ban",
          actor: "@mod:hs",
          target: "@_testnet_x:hs",
          reason: "spam",
          results: [
            { where: "matrix", ok: true },
            { where: "testnet c1", ok: false, detail: "the platform answered 403" },
          ],
          createdAt: undefined,
        },
      );
      assert.ok(one[0]!.createdAt instanceof Date);
      const all = await a.list({ limit: 2 });
      assert.deepEqual(
        all.map((e) => e.id),
        [third, second],
      );
      assert.equal(all[0]!.roomId, undefined);
    });

    it("keeps hostile text storable: NUL and lone surrogates in reasons and details, long reasons capped", async () => {
      const a = audit();
      const id = await a.record({
        roomId: "!hostile:hs",
        action: "mute",
        actor: "@mod:hs",
        target: "@x:hs",
        reason: `a\0b\uD800${"z".repeat(5000)}`,
        results: [{ where: "matrix", ok: false, detail: "x\0y\uDC00" }],
      });
      const [e] = await a.list({ roomId: "!hostile:hs", limit: 1 });
      assert.equal(e!.id, id);
      assert.ok(e!.reason!.startsWith("a\uFFFDb"));
      assert.ok(e!.reason!.length <= 1000);
      assert.equal(e!.results[0]!.detail, "x\uFFFDy\uFFFD");
    });

    it("renames a target in past entries (an erasure leaves a pseudonym)", async () => {
      const a = audit();
      await a.record({
        roomId: "!three:hs",
        action: "ban",
        actor: "@m:hs",
        target: "@_testnet_gone:hs",
        results: [],
      });
      await a.record({
        roomId: "!three:hs",
        action: "unban",
        actor: "@m:hs",
        target: "@_testnet_gone:hs",
        results: [],
      });
      assert.equal(await a.renameTarget("@_testnet_gone:hs", "erased-testnet-abc"), 2);
      const entries = await a.list({ roomId: "!three:hs", limit: 10 });
      assert.deepEqual(
        entries.map((e) => e.target),
        ["erased-testnet-abc", "erased-testnet-abc"],
      );
      assert.equal(await a.renameTarget("@_testnet_gone:hs", "again"), 0);
    });
  });
});

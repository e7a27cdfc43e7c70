import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import type { Store } from "../../../src/store/Store";
import type { Portal, ReactionRow } from "../../../src/store/types";
import {
  type ContractContext,
  describeAccounts,
  describeMessageMap,
  describeQueue,
} from "./storeContractParts";

/** What a contract run needs: a migrated store on an empty database. */
export interface StoreFixture {
  store: Store;
  cleanup(): Promise<void>;
  /** Runs the migrations again, resolving with the numbers applied; omitted when not applicable. */
  migrate(): Promise<number[]>;
}

/**
 * The behaviour every {@link Store} must have, in one `describe` (sections in storeContractParts).
 * Each test works on its own random ids, so tests depend neither on each other nor on order;
 * queue tests drain the queue first.
 */
export function storeContract(name: string, makeStore: () => Promise<StoreFixture>): void {
  describe(`Store contract: ${name}`, function () {
    this.timeout(60_000);
    let fx: StoreFixture;
    let store: Store;
    let u: string;
    const ctx = {} as ContractContext;

    before(async () => {
      fx = await makeStore();
      store = fx.store;
      ctx.store = store;
    });
    after(async () => fx?.cleanup());
    beforeEach(() => {
      u = randomBytes(4).toString("hex");
      ctx.u = u;
    });

    const portal = (over: Partial<Portal> = {}): Portal => ({
      platform: `tg${u}`,
      chatId: "chat-1",
      roomId: `!room${u}:example.org`,
      loginId: "login-1",
      kind: "group",
      name: "Group",
      topic: "About things",
      avatarKey: "avatar-1",
      linked: false,
      ...over,
    });
    describe("migrations", () => {
      it("are all applied", async () => {
        const s = await store.migrationStatus();
        assert.ok(s.latest >= 1);
        assert.equal(s.applied, s.latest);
      });

      it("re-running them is a no-op", async () => {
        const before = await store.migrationStatus();
        assert.deepEqual(await fx.migrate(), []);
        assert.deepEqual(await store.migrationStatus(), before);
      });
    });

    describe("portals", () => {
      it("round-trips every field and keeps created_at on update", async () => {
        assert.equal(await store.getPortal(`tg${u}`, "chat-1"), undefined);
        await store.upsertPortal(portal());
        const got = await store.getPortal(`tg${u}`, "chat-1");
        assert.ok(got?.createdAt instanceof Date);
        assert.deepEqual(got, { ...portal(), createdAt: got.createdAt });

        await store.upsertPortal(portal({ roomId: `!other${u}:example.org`, name: undefined, linked: true }));
        const updated = await store.getPortal(`tg${u}`, "chat-1");
        assert.equal(updated?.roomId, `!other${u}:example.org`);
        assert.equal(updated?.linked, true);
        assert.equal("name" in updated!, false, "a cleared field comes back absent");
        assert.deepEqual(updated?.createdAt, got.createdAt);
      });

      it("keeps a given created_at", async () => {
        const createdAt = new Date("2023-01-02T03:04:05.678Z");
        await store.upsertPortal(portal({ createdAt }));
        assert.deepEqual((await store.getPortal(`tg${u}`, "chat-1"))?.createdAt, createdAt);
      });

      it("maps many chats, across platforms, to one room", async () => {
        const room = `!shared${u}:example.org`;
        await store.upsertPortal(portal({ chatId: "b", roomId: room }));
        await store.upsertPortal(portal({ chatId: "a", roomId: room, kind: "channel" }));
        await store.upsertPortal(portal({ platform: `dc${u}`, chatId: "z", roomId: room }));
        await store.upsertPortal(portal({ chatId: "elsewhere" }));
        const inRoom = await store.getPortalsByRoom(room);
        assert.deepEqual(
          inRoom.map((p) => `${p.platform}/${p.chatId}`),
          [`dc${u}/z`, `tg${u}/a`, `tg${u}/b`],
        );
        assert.equal(inRoom[1]?.kind, "channel");
        assert.deepEqual(await store.getPortalsByRoom(`!nothing${u}:example.org`), []);
      });

      it("lists by platform with limit and offset, counts and deletes", async () => {
        const before = await store.countPortals();
        for (const id of ["c3", "c1", "c2"]) await store.upsertPortal(portal({ chatId: id }));
        await store.upsertPortal(portal({ platform: `wa${u}`, chatId: "c0" }));
        assert.equal(await store.countPortals(), before + 4);
        const ids = async (opts: { limit?: number; offset?: number }) =>
          (await store.listPortals({ platform: `tg${u}`, ...opts })).map((p) => p.chatId);
        assert.deepEqual(await ids({}), ["c1", "c2", "c3"]);
        assert.deepEqual(await ids({ limit: 2 }), ["c1", "c2"]);
        assert.deepEqual(await ids({ limit: 2, offset: 2 }), ["c3"]);
        const all = (await store.listPortals()).map((p) => p.platform);
        assert.ok(all.includes(`wa${u}`) && all.includes(`tg${u}`));
        // Through given logins only (a web page user's own portals).
        await store.upsertPortal(portal({ chatId: "c9", loginId: `own-${u}` }));
        const own = await store.listPortals({ loginIds: [`own-${u}`, `none-${u}`] });
        assert.deepEqual(
          own.map((p) => `${p.platform}/${p.chatId}`),
          [`tg${u}/c9`],
        );
        assert.deepEqual(await store.listPortals({ loginIds: [] }), []);
        assert.equal(await store.deletePortal(`tg${u}`, "c9"), true);

        assert.equal(await store.deletePortal(`tg${u}`, "c2"), true);
        assert.equal(await store.deletePortal(`tg${u}`, "c2"), false);
        assert.equal(await store.getPortal(`tg${u}`, "c2"), undefined);
        assert.equal(await store.countPortals(), before + 3);
      });

      it("unlinks a portal into a tombstone that only clearUnlinked lifts", async () => {
        const p = portal({ chatId: "gone" });
        await store.upsertPortal(p);
        assert.equal(await store.isChatUnlinked(p.platform, "gone"), false);
        await store.unlinkPortal(p, "@mod:example.org");
        assert.equal(await store.getPortal(p.platform, "gone"), undefined, "the portal is removed");
        assert.equal(await store.isChatUnlinked(p.platform, "gone"), true);
        assert.equal(await store.isChatUnlinked(`other${u}`, "gone"), false, "per platform");
        await store.unlinkPortal(p, "@mod:example.org"); // again: no conflict
        await store.upsertPortal(p);
        assert.equal(await store.isChatUnlinked(p.platform, "gone"), true, "a portal alone does not lift it");
        await store.clearUnlinked(p.platform, ["other-form", "gone"]);
        assert.equal(await store.isChatUnlinked(p.platform, "gone"), false);
        assert.ok(await store.getPortal(p.platform, "gone"));
      });
    });

    describe("ghosts", () => {
      it("upserts and tracks room membership idempotently", async () => {
        const mxid = `@tg_${u}:example.org`;
        assert.equal(await store.getGhost(mxid), undefined);
        await store.upsertGhost({ mxid, platform: "telegram", remoteId: u, registered: false });
        assert.deepEqual(await store.getGhost(mxid), {
          mxid,
          platform: "telegram",
          remoteId: u,
          registered: false,
        });
        const full = {
          mxid,
          platform: "telegram",
          remoteId: u,
          displayName: "Ada (Telegram)",
          avatarKey: "k1",
          avatarMxc: "mxc://example.org/abc",
          registered: true,
        };
        await store.upsertGhost(full);
        assert.deepEqual(await store.getGhost(mxid), full);

        const room = `!r${u}:example.org`;
        assert.equal(await store.isGhostInRoom(mxid, room), false);
        await store.setGhostInRoom(mxid, room, true);
        await store.setGhostInRoom(mxid, room, true);
        assert.equal(await store.isGhostInRoom(mxid, room), true);
        assert.equal(await store.isGhostInRoom(mxid, `!other${u}:example.org`), false);
        await store.setGhostInRoom(mxid, room, false);
        await store.setGhostInRoom(mxid, room, false);
        assert.equal(await store.isGhostInRoom(mxid, room), false);
      });
    });

    describe("reactions", () => {
      it("looks up by target and sender and by event, re-points, deletes", async () => {
        const r: ReactionRow = {
          platform: `tg${u}`,
          chatId: "chat-1",
          targetRemoteId: "m1",
          sender: "user-9",
          key: "👍",
          roomId: `!room${u}:example.org`,
          eventId: `$react${u}`,
          targetEventId: `$ev${u}-1`,
        };
        assert.equal(
          await store.getReaction(r.platform, r.chatId, r.targetRemoteId, r.sender, r.key),
          undefined,
        );
        await store.insertReaction(r);
        await store.insertReaction({ ...r, key: "❤️", eventId: `$heart${u}` });
        assert.deepEqual(await store.getReaction(r.platform, r.chatId, r.targetRemoteId, r.sender, r.key), r);
        assert.deepEqual(await store.getReactionByEvent(`$react${u}`), r);
        assert.equal(
          await store.getReaction(r.platform, r.chatId, r.targetRemoteId, "someone-else", r.key),
          undefined,
        );

        await store.insertReaction({ ...r, eventId: `$again${u}` });
        assert.equal(
          (await store.getReaction(r.platform, r.chatId, r.targetRemoteId, r.sender, r.key))?.eventId,
          `$again${u}`,
        );
        assert.equal(await store.getReactionByEvent(`$react${u}`), undefined);

        await store.deleteReactionByEvent(`$again${u}`);
        assert.equal(
          await store.getReaction(r.platform, r.chatId, r.targetRemoteId, r.sender, r.key),
          undefined,
        );
        assert.equal((await store.getReactionByEvent(`$heart${u}`))?.key, "❤️");
      });

      it("keeps one row per linked chat for one Matrix reaction; looks up and deletes per chat", async () => {
        const base: ReactionRow = {
          platform: `tg${u}`,
          chatId: "hub-1",
          targetRemoteId: "t1",
          sender: "@alice:example.org",
          key: "👍",
          roomId: `!hub${u}:example.org`,
          eventId: `$hubreact${u}`,
          targetEventId: `$hubev${u}`,
        };
        const dc = { ...base, platform: `dc${u}`, chatId: "hub-2", targetRemoteId: "d1" };
        await store.insertReaction(base);
        await store.insertReaction(dc);
        assert.deepEqual(await store.getReactionByEvent(base.eventId, dc), dc);
        assert.deepEqual(await store.getReactionByEvent(base.eventId, base), base);
        assert.equal(
          await store.getReactionByEvent(base.eventId, { platform: `sl${u}`, chatId: "x" }),
          undefined,
        );
        await store.deleteReactionByEvent(base.eventId, base);
        assert.equal(await store.getReactionByEvent(base.eventId, base), undefined);
        assert.deepEqual(await store.getReactionByEvent(base.eventId), dc, "the other chat's row stays");
        await store.deleteReactionByEvent(base.eventId);
        assert.equal(await store.getReactionByEvent(base.eventId), undefined);
      });
    });

    describeMessageMap(ctx);
    describeAccounts(ctx);
    describeQueue(ctx);

    describe("raw query", () => {
      it("runs parameterised SQL for connector-owned tables", async () => {
        const table = `test_conn_${u}`;
        await store.query(`CREATE TABLE ${table} (k text PRIMARY KEY, v int)`);
        await store.query(`INSERT INTO ${table} (k, v) VALUES ($1, $2), ($3, $4)`, ["a", 1, "b", 2]);
        const rows = await store.query<{ k: string; v: number }>(
          `SELECT k, v FROM ${table} WHERE v > $1`,
          [1],
        );
        assert.deepEqual(rows, [{ k: "b", v: 2 }]);
        await store.query(`DROP TABLE ${table}`);
      });
    });
  });
}

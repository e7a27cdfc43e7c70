/**
 * The provisioning API on the bridge's real listener over a real PgStore (embedded
 * PostgreSQL): paging and filtering answer what the table holds, and no query string,
 * however hostile, gets a 5xx or an answer without a JSON errcode.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import fc from "fast-check";
import { Audit } from "../../../src/core/Audit";
import { Quarantine } from "../../../src/core/Quarantine";
import { HttpServer } from "../../../src/http/HttpServer";
import { Provisioning } from "../../../src/http/Provisioning";
import { openDatabase } from "../../../src/store/Database";
import { PgStore } from "../../../src/store/PgStore";
import type { QueueItem } from "../../../src/store/types";
import { fuzzParams } from "../../harness/fuzz";
import { type Answer, assertMatrixError, request } from "../../unit/http/wire";

const PREFIX = "/_clawbridge/provisioning";

/** Query pieces: the known parameters with any value, unknown keys, raw and broken escapes. */
const queryValue = fc.oneof(
  fc.integer({ min: -2000, max: 2000 }).map(String),
  fc.constantFrom(
    "1e20",
    "1e2",
    "-0",
    "0x10",
    "1.5",
    "",
    "%205",
    "+5",
    "NaN",
    "Infinity",
    "99999999999999999999",
    "1000000000",
  ),
  fc
    .string({ unit: "binary", maxLength: 40 })
    .map((s) => encodeURIComponent(s.replace(/[\ud800-\udfff]/g, "?"))),
  fc.string({ maxLength: 20 }).map((s) => s.replace(/[^\x21-\x7e]|[&#]/g, "")),
  fc.constantFrom("%", "%zz", "%00", "%E0%A4", "%ED%A0%80", "telegram", "Telegram", "a".repeat(5000)),
);
const queryPair = fc
  .tuple(
    fc.constantFrom("limit", "offset", "platform", "limit", "offset", "other", "%", "li%6Dit"),
    queryValue,
  )
  .map(([k, v]) => `${k}=${v}`);
const query = fc
  .array(queryPair, { maxLength: 5 })
  .map((pairs) => (pairs.length ? `?${pairs.join("&")}` : ""));

describe("Provisioning API over PostgreSQL", function () {
  this.timeout(120_000);
  const secret = randomBytes(24).toString("hex");
  const auth = { Authorization: `Bearer ${secret}` };
  let dir: string;
  let store: PgStore;
  let server: HttpServer;
  let port: number;
  const requeued: QueueItem[] = [];

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "clawbridge-prov-"));
    store = await PgStore.open(await openDatabase({ dataDir: dir, embeddedPort: 0, maxConnections: 4 }));
    for (let i = 0; i < 5; i++) {
      for (const platform of ["discord", "telegram"]) {
        await store.upsertPortal({
          platform,
          chatId: `chat${i}`,
          roomId: `!${platform}${i}:hs`,
          loginId: "bot",
          kind: "group",
          linked: false,
        });
      }
    }
    server = new HttpServer(randomBytes(24).toString("hex"), {
      onTransaction: async () => undefined,
      onPing: () => undefined,
      onUserQuery: async () => false,
      health: () => ({ ok: true, detail: {} }),
      provisioning: new Provisioning(
        PREFIX,
        secret,
        store,
        new Quarantine({ store, accept: (items) => requeued.push(...items) }),
        new Audit(store),
      ),
    });
    port = await server.listen(0, "127.0.0.1");
  });
  after(async () => {
    await server?.close();
    await store?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  type PortalJson = { platform: string; chat_id: string; room_id: string };
  /** The answer's portal list, which a 200 must carry. */
  const portalsOf = (r: Answer): PortalJson[] => {
    const portals = r.json?.portals;
    assert.ok(Array.isArray(portals), r.text.slice(0, 200));
    return portals as PortalJson[];
  };
  const list = async (q: string) => {
    const r = await request(port, "GET", `${PREFIX}/v1/portals${q}`, { headers: auth });
    return r;
  };

  it("lists the moderation audit log, newest first, of one room or all; room ids are checked", async () => {
    const audit = new Audit(store);
    await audit.record({
      roomId: "!a:hs",
      action: "ban",
      actor: "@m:hs",
      target: "@x:hs",
      reason: "spam",
      results: [{ where: "matrix", ok: true }],
    });
    await audit.record({
      roomId: "!b",
      action: "kick",
      actor: "@m:hs",
      target: "@y:hs",
      results: [{ where: "telegram 1", ok: false, detail: "no" }],
    });
    await audit.record({ action: "forget", actor: "@admin:hs", target: "erased-x", results: [] });
    const get = (q: string) => request(port, "GET", `${PREFIX}/v1/audit${q}`, { headers: auth });
    const all = await get("?limit=2");
    assert.equal(all.status, 200, all.text);
    const entries = all.json?.entries as Array<Record<string, unknown>>;
    assert.deepEqual(
      entries.map((e) => [e.action, e.room_id]),
      [
        ["forget", null],
        ["kick", "!b"],
      ],
    );
    assert.deepEqual(entries[1]!.results, [{ where: "telegram 1", ok: false, detail: "no" }]);
    const one = await get(`?room=${encodeURIComponent("!a:hs")}`);
    assert.deepEqual(
      ((one.json?.entries ?? []) as Array<Record<string, unknown>>).map((e) => [
        e.action,
        e.target,
        e.reason,
      ]),
      [["ban", "@x:hs", "spam"]],
    );
    for (const bad of [
      "?room=a:hs",
      "?room=",
      `?room=!${"a".repeat(300)}`,
      "?room=!a&room=!b",
      "?room=%21a%20b",
      "?limit=0",
    ]) {
      const r = await get(bad);
      assert.equal(r.status, 400, `${bad}: ${r.text}`);
      assert.equal(r.json?.errcode, "M_INVALID_PARAM");
    }
    const unauth = await request(port, "GET", `${PREFIX}/v1/audit`, {});
    assert.equal(unauth.status, 401);
  });

  it("fuzzed audit queries: never 5xx; 200 with entries within the limit, else a JSON errcode", async () => {
    const auditQuery = fc
      .array(
        fc.tuple(
          fc.constantFrom("limit", "room", "room", "other"),
          fc.oneof(queryValue, fc.constantFrom("!a:hs", "%21a%3Ahs", "!", "!%00")),
        ),
        { maxLength: 4 },
      )
      .map((pairs) => (pairs.length ? `?${pairs.map(([k, v]) => `${k}=${v}`).join("&")}` : ""));
    await fc.assert(
      fc.asyncProperty(auditQuery, async (q) => {
        const r = await request(port, "GET", `${PREFIX}/v1/audit${q}`, { headers: auth });
        assert.ok(r.status < 500, `${r.status} for ${q.slice(0, 120)}: ${r.text.slice(0, 200)}`);
        assertMatrixError(r);
        if (r.status === 200) assert.ok(Array.isArray(r.json?.entries));
        else assert.equal(r.json?.errcode, "M_INVALID_PARAM", `${r.status} for ${q}`);
      }),
      fuzzParams(200),
    );
  });

  it("pages with limit and offset and filters by platform", async () => {
    const all = await list("");
    assert.equal(all.status, 200, all.text);
    assert.equal(all.json?.total, 10);
    const page = await list("?limit=3&offset=4");
    const ids = portalsOf(page).map((p) => `${p.platform}/${p.chat_id}`);
    assert.deepEqual(ids, ["discord/chat4", "telegram/chat0", "telegram/chat1"]);
    const tg = await list("?platform=telegram&limit=1000&offset=1000000000");
    assert.equal(tg.status, 200);
    assert.deepEqual(tg.json?.portals, []);
    const one = await list("?platform=telegram&limit=1");
    assert.equal(portalsOf(one)[0]?.room_id, "!telegram0:hs");
  });

  it("fuzzed query strings: never 5xx; 200 within the limit, else a JSON errcode", async () => {
    await fc.assert(
      fc.asyncProperty(query, async (q) => {
        const r = await list(q);
        assert.ok(r.status < 500, `${r.status} for ${q.slice(0, 120)}: ${r.text.slice(0, 200)}`);
        assertMatrixError(r);
        if (r.status === 200) {
          const limit = new URLSearchParams(q).get("limit");
          const n = portalsOf(r).length;
          assert.ok(n <= (limit === null ? 100 : Number(limit)), `${n} portals for ${q}`);
        } else {
          assert.equal(r.status, 400, `${r.status} for ${q}`);
          assert.equal(r.json?.errcode, "M_INVALID_PARAM");
        }
      }),
      fuzzParams(200),
    );
  });

  it("lists, retries and drops quarantined events; ids are checked", async () => {
    const refusedWith = (a: Answer, status: number, errcode: string) => {
      assert.equal(a.status, status, a.text);
      assert.equal(a.json?.errcode, errcode, a.text);
    };
    let deep: unknown = "x";
    for (let i = 0; i < 100_000; i++) deep = [deep];
    const ev = (n: number, extra: Record<string, unknown> = {}) => ({
      queueKey: "matrix:!q:hs",
      kind: "matrix" as const,
      payload: { event_id: `$q${n}`, room_id: "!q:hs", content: { body: `q${n}`, ...extra } },
    });
    await store.recordTransaction(`prov-${Date.now()}`, [ev(1, { deep })]);
    const [queued] = (await store.enqueue([ev(2)])) as string[];
    const [item] = (await store.pendingQueue()).filter((p) => p.id === queued);
    await store.quarantineQueueItem({ ...item, attempts: 5 }, "MatrixError 500: refused");

    const listed = await request(port, "GET", `${PREFIX}/v1/quarantine?limit=10`, { headers: auth });
    assert.equal(listed.status, 200, listed.text);
    const items = listed.json?.items as Array<Record<string, unknown>>;
    assert.equal(listed.json?.total, 2);
    const [unstorable, refused] = items;
    assert.equal(unstorable.event_id, "$q1");
    assert.equal(unstorable.retryable, false);
    assert.match(String(unstorable.reason), /cannot be serialized/);
    assert.deepEqual(
      {
        event_id: refused.event_id,
        room_id: refused.room_id,
        attempts: refused.attempts,
        retryable: refused.retryable,
      },
      { event_id: "$q2", room_id: "!q:hs", attempts: 5, retryable: true },
    );

    const notRetryable = await request(port, "POST", `${PREFIX}/v1/quarantine/${unstorable.id}/retry`, {
      headers: auth,
    });
    refusedWith(notRetryable, 409, "M_NOT_RETRYABLE");
    const retried = await request(port, "POST", `${PREFIX}/v1/quarantine/${refused.id}/retry`, {
      headers: auth,
    });
    assert.equal(retried.status, 200, retried.text);
    assert.deepEqual(
      requeued.map((q) => (q.payload as { event_id: string }).event_id),
      ["$q2"],
    );
    refusedWith(
      await request(port, "POST", `${PREFIX}/v1/quarantine/${refused.id}/retry`, { headers: auth }),
      404,
      "M_NOT_FOUND",
    );
    const dropped = await request(port, "DELETE", `${PREFIX}/v1/quarantine/${unstorable.id}`, {
      headers: auth,
    });
    assert.equal(dropped.status, 200, dropped.text);
    assert.equal(await store.countQuarantine(), 0);
    for (const bad of ["0", "-1", "abc", "1e3", "99999999999999999999", "%00"]) {
      const r = await request(port, "POST", `${PREFIX}/v1/quarantine/${bad}/retry`, { headers: auth });
      assert.equal(r.status, 404, `${bad}: ${r.text}`);
    }
    refusedWith(
      await request(port, "GET", `${PREFIX}/v1/quarantine?limit=0`, { headers: auth }),
      400,
      "M_INVALID_PARAM",
    );
    refusedWith(await request(port, "GET", `${PREFIX}/v1/quarantine`), 401, "M_UNAUTHORIZED");
  });
});

import assert from "node:assert/strict";
import pg from "pg";
import { type Baileys, loadBaileys } from "../../../../bridges/whatsapp/baileys";
import { pgAuthState } from "../../../../bridges/whatsapp/PgAuthState";
import type { ConnectorStore } from "../../../../src/core/connector";
import { Migrator } from "../../../../src/store/Migrator";
import { createTestDatabase, startExternalPostgres, type TestPostgres } from "../../../harness/postgres";

describe("WhatsApp auth state in PostgreSQL", function () {
  this.timeout(120_000);
  let server: TestPostgres;
  let db: { url: string; drop(): Promise<void> };
  let pool: pg.Pool;
  let store: ConnectorStore;
  let B: Baileys;

  before(async () => {
    B = await loadBaileys();
    server = await startExternalPostgres();
    db = await createTestDatabase(server.url);
    pool = new pg.Pool({ connectionString: db.url, max: 2 });
    await new Migrator({ pool }).migrate();
    store = {
      query: async (sql, params) => (await pool.query(sql, params)).rows,
      kvGet: async () => undefined,
      kvSet: async () => undefined,
    };
  });
  after(async () => {
    await pool?.end();
    await db?.drop();
    await server?.stop();
  });

  it("starts a fresh device when nothing is stored, and restores saved credentials byte for byte", async () => {
    const fresh = await pgAuthState(store, "alice-1");
    assert.equal(fresh.existing, false);
    fresh.state.creds.me = { id: "15550000001:1@s.whatsapp.net", name: "Alice" };
    fresh.state.creds.registered = true;
    await fresh.saveCreds();

    const again = await pgAuthState(store, "alice-1");
    assert.equal(again.existing, true);
    const a = fresh.state.creds;
    const b = again.state.creds;
    assert.deepEqual(b.me, a.me);
    assert.equal(b.registrationId, a.registrationId);
    assert.ok(Buffer.isBuffer(b.noiseKey.private), "Buffers come back as Buffers");
    assert.ok(Buffer.from(b.noiseKey.private).equals(Buffer.from(a.noiseKey.private)));
    assert.ok(Buffer.from(b.signedIdentityKey.public).equals(Buffer.from(a.signedIdentityKey.public)));
    assert.ok(Buffer.from(b.signedPreKey.signature).equals(Buffer.from(a.signedPreKey.signature)));
    assert.equal(b.advSecretKey, a.advSecretKey);
  });

  it("stores, updates and deletes Signal keys by type and id, separately per login", async () => {
    const alice = await pgAuthState(store, "alice-2");
    const bob = await pgAuthState(store, "bob-2");
    const k1 = B.Curve.generateKeyPair();
    const k2 = B.Curve.generateKeyPair();
    await alice.state.keys.set({
      "pre-key": { "1": k1, "2": k2 },
      session: { "15551234567.0": Buffer.from("session-bytes") },
      "lid-mapping": { "15551234567": "15551234567@lid" },
    });
    await bob.state.keys.set({ "pre-key": { "1": k2 } });

    const got = await alice.state.keys.get("pre-key", ["1", "2", "3"]);
    assert.deepEqual(Object.keys(got).sort(), ["1", "2"]);
    assert.ok(Buffer.from(got["1"].private).equals(Buffer.from(k1.private)));
    assert.ok(
      Buffer.from((await bob.state.keys.get("pre-key", ["1"]))["1"].private).equals(Buffer.from(k2.private)),
    );
    const session = await alice.state.keys.get("session", ["15551234567.0"]);
    assert.equal(Buffer.from(session["15551234567.0"]).toString(), "session-bytes");
    assert.equal(
      (await alice.state.keys.get("lid-mapping", ["15551234567"]))["15551234567"],
      "15551234567@lid",
    );

    await alice.state.keys.set({ "pre-key": { "1": null, "2": k1 } });
    const after = await alice.state.keys.get("pre-key", ["1", "2"]);
    assert.deepEqual(Object.keys(after), ["2"]);
    assert.ok(Buffer.from(after["2"].public).equals(Buffer.from(k1.public)));
    assert.deepEqual(await alice.state.keys.get("pre-key", []), {});
  });

  it("returns app-state sync keys as protobuf objects, as baileys expects", async () => {
    const auth = await pgAuthState(store, "alice-3");
    const data = B.proto.Message.AppStateSyncKeyData.fromObject({
      keyData: Buffer.from("0123456789abcdef"),
      timestamp: 1700000000,
    });
    await auth.state.keys.set({ "app-state-sync-key": { AAAA: data } });
    const got = (await auth.state.keys.get("app-state-sync-key", ["AAAA"])).AAAA;
    assert.ok(got instanceof B.proto.Message.AppStateSyncKeyData);
    assert.equal(Buffer.from(got.keyData as Uint8Array).toString(), "0123456789abcdef");
  });

  it("clear() forgets the credentials and every key of that login only", async () => {
    const a = await pgAuthState(store, "alice-4");
    const b = await pgAuthState(store, "bob-4");
    await a.saveCreds();
    await b.saveCreds();
    await a.state.keys.set({ "pre-key": { "9": B.initAuthCreds().noiseKey } });
    await b.state.keys.set({ "pre-key": { "9": B.initAuthCreds().noiseKey } });
    await a.clear();
    assert.equal((await pgAuthState(store, "alice-4")).existing, false);
    assert.deepEqual(await a.state.keys.get("pre-key", ["9"]), {});
    assert.equal((await pgAuthState(store, "bob-4")).existing, true);
    assert.deepEqual(Object.keys(await b.state.keys.get("pre-key", ["9"])), ["9"]);
  });
});

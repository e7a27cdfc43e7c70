import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import path from "node:path";
import readline from "node:readline";
import * as Crypto from "@matrix-org/matrix-sdk-crypto-wasm";
import * as fake from "fake-indexeddb";
import pg from "pg";
import { CryptoStore } from "../../../src/matrix/crypto/CryptoStore";
import { Migrator } from "../../../src/store/Migrator";
import { createTestDatabase, startExternalPostgres, type TestPostgres } from "../../harness/postgres";
import { introduce, KeyServer, shareRoomKey } from "./cryptoPeers";

const ROOM = "!secret:hs.test";
const STORE_KEY = new Uint8Array(32).fill(42);

/** Opens `storeName` as a machine the way the bridge does: load from PostgreSQL, then the encrypted IndexedDB. */
async function openMachine(store: CryptoStore, storeName: string, user: string, device: string) {
  await store.load(storeName);
  const handle = await Crypto.StoreHandle.openWithKey(storeName, STORE_KEY);
  try {
    return await Crypto.OlmMachine.initFromStore(
      new Crypto.UserId(user),
      new Crypto.DeviceId(device),
      handle,
    );
  } finally {
    handle.free();
  }
}

/** A process restart as the crypto sees it: a new, empty IndexedDB and a store that knows nothing yet. */
function restart(pool: pg.Pool): CryptoStore {
  const store = new CryptoStore({ pool, factory: new fake.IDBFactory() });
  (globalThis as { indexedDB?: unknown }).indexedDB = store.factory;
  return store;
}

function identity(machine: Crypto.OlmMachine): { curve25519: string; ed25519: string } {
  return {
    curve25519: machine.identityKeys.curve25519.toBase64(),
    ed25519: machine.identityKeys.ed25519.toBase64(),
  };
}

/** Bob's Megolm encryption of `body` in ROOM, as the event Alice's client would receive. */
async function megolm(
  bob: Crypto.OlmMachine,
  body: string,
  n: number,
): Promise<{ event: string; sessionId: string }> {
  const content = JSON.parse(
    await bob.encryptRoomEvent(
      new Crypto.RoomId(ROOM),
      "m.room.message",
      JSON.stringify({ msgtype: "m.text", body }),
    ),
  ) as { session_id: string };
  const event = {
    type: "m.room.encrypted",
    event_id: `$m${n}`,
    sender: bob.userId.toString(),
    origin_server_ts: n,
    room_id: ROOM,
    content,
  };
  return { event: JSON.stringify(event), sessionId: content.session_id };
}

async function decryptBody(alice: Crypto.OlmMachine, event: string): Promise<string> {
  const settings = new Crypto.DecryptionSettings(Crypto.TrustRequirement.Untrusted);
  const decrypted = await alice.decryptRoomEvent(event, new Crypto.RoomId(ROOM), settings);
  return (JSON.parse(decrypted.event) as { content: { body: string } }).content.body;
}

interface ChildRun {
  identity?: { curve25519: string; ed25519: string };
  /** The last write whose flush the child saw resolve, -1 if none. */
  lastFlushed: number;
}

/** Runs cryptoStoreChild.ts and SIGKILLs it once it has reported `killAfter` flushes, mid-write. */
function runAndKill(url: string, storeName: string, prefix: string, killAfter: number): Promise<ChildRun> {
  const script = path.join(__dirname, "cryptoStoreChild.ts");
  const child = spawn(process.execPath, ["--require", "tsx/cjs", script, url, storeName, prefix], {
    cwd: path.resolve(__dirname, "../../.."),
    stdio: ["ignore", "pipe", "pipe"],
  });
  const run: ChildRun = { lastFlushed: -1 };
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  readline.createInterface({ input: child.stdout }).on("line", (line) => {
    const msg = JSON.parse(line) as { identity?: ChildRun["identity"]; flushed?: number };
    if (msg.identity) run.identity = msg.identity;
    if (msg.flushed !== undefined) {
      run.lastFlushed = msg.flushed;
      if (msg.flushed + 1 >= killAfter) child.kill("SIGKILL");
    }
  });
  return new Promise((resolve, reject) => {
    child.on("exit", (code, signal) => {
      if (signal === "SIGKILL") resolve(run);
      else reject(new Error(`the child exited by itself (${code}): ${stderr}`));
    });
  });
}

describe("CryptoStore: the Rust crypto's state kept in PostgreSQL (embedded PostgreSQL)", function () {
  this.timeout(180_000);
  let server: TestPostgres;
  let db: { url: string; drop(): Promise<void> };
  let pool: pg.Pool;
  let installed: CryptoStore;

  before(async () => {
    server = await startExternalPostgres();
    db = await createTestDatabase(server.url);
    pool = new pg.Pool({ connectionString: db.url, max: 4 });
    await new Migrator({ pool }).migrate();
    await Crypto.initAsync();
    installed = CryptoStore.install(pool);
  });
  after(async () => {
    (globalThis as { indexedDB?: unknown }).indexedDB = installed?.factory;
    await pool?.end();
    await db?.drop();
    await server?.stop();
  });

  it("install is once per process: the same pool gets the same store, another pool an error", () => {
    assert.equal(CryptoStore.install(pool), installed);
    const other = new pg.Pool({ connectionString: db.url });
    assert.throws(() => CryptoStore.install(other), /one crypto store per process/);
    void other.end();
    assert.equal((globalThis as { indexedDB?: unknown }).indexedDB, installed.factory);
  });

  it("after a restart Alice has her identity, decrypts Bob's next Megolm message in the old session, and his next Olm message", async () => {
    const keyServer = new KeyServer();
    const alice = await openMachine(installed, "alice", "@alice:hs.test", "ALICEDEV");
    const bob = await Crypto.OlmMachine.initialize(
      new Crypto.UserId("@bob:hs.test"),
      new Crypto.DeviceId("BOBDEV"),
    );
    await introduce(keyServer, alice, bob);
    await shareRoomKey(keyServer, bob, ROOM, ["@alice:hs.test"]);
    await keyServer.sync(alice);
    const first = await megolm(bob, "before the restart", 1);
    assert.equal(await decryptBody(alice, first.event), "before the restart");
    const before = identity(alice);
    await installed.flush();
    alice.close();

    const store = restart(pool);
    const again = await openMachine(store, "alice", "@alice:hs.test", "ALICEDEV");
    assert.deepEqual(identity(again), before);
    // The inbound Megolm session survived: Bob's next message in the same session decrypts.
    const second = await megolm(bob, "after the restart", 2);
    assert.equal(second.sessionId, first.sessionId);
    assert.equal(await decryptBody(again, second.event), "after the restart");

    // The Olm session survived: Bob needs no new one-time key, and his new room key (an Olm
    // message on the old session; the one-time key it began with is used up) decrypts.
    assert.equal(await bob.invalidateGroupSession(new Crypto.RoomId(ROOM)), true);
    assert.equal(await bob.getMissingSessions([new Crypto.UserId("@alice:hs.test")]), null);
    await shareRoomKey(keyServer, bob, ROOM, ["@alice:hs.test"]);
    const received = (await keyServer.sync(again)) as { type: Crypto.ProcessedToDeviceEventType }[];
    assert.deepEqual(
      received.map((e) => e.type),
      [Crypto.ProcessedToDeviceEventType.Decrypted],
    );
    const third = await megolm(bob, "new session after the restart", 3);
    assert.notEqual(third.sessionId, first.sessionId);
    assert.equal(await decryptBody(again, third.event), "new session after the restart");
    await store.flush();
    again.close();
    bob.close();
  });

  it("kill -9 at any moment: the state restored is at least the last flush the process saw resolve", async () => {
    const first = await runAndKill(db.url, "carol", "u", 12);
    // Again from what the first run left: loading after a kill and writing on works too.
    const second = await runAndKill(db.url, "carol", "v", 7);
    assert.ok(first.identity && first.lastFlushed >= 11, `first run: ${JSON.stringify(first)}`);
    assert.deepEqual(second.identity, first.identity);

    const store = restart(pool);
    const carol = await openMachine(store, "carol", "@carol:hs.test", "CAROLDEV");
    assert.deepEqual(identity(carol), first.identity);
    const tracked = new Set([...(await carol.trackedUsers())].map((u) => u.toString()));
    for (const [prefix, run] of [
      ["u", first],
      ["v", second],
    ] as const) {
      for (let n = 0; n <= run.lastFlushed; n++) {
        assert.ok(
          tracked.has(`@${prefix}${n}:hs.test`),
          `@${prefix}${n} was flushed before the kill but is not tracked`,
        );
      }
    }
    carol.close();
  });
});

import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { openDatabase } from "../../../src/store/Database";
import { PgStore } from "../../../src/store/PgStore";
import { TxnPruner } from "../../../src/store/TxnPruner";

const HOUR = 3600_000;

describe("TxnPruner", function () {
  this.timeout(120_000);
  let dir: string;
  let store: PgStore;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "clawbridge-txnprune-"));
    store = await PgStore.open(await openDatabase({ dataDir: dir, embeddedPort: 0, maxConnections: 4 }));
  });
  after(async () => {
    await store?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const record = async (id: string, hoursAgo: number) => {
    assert.ok(await store.recordTransaction(id, []));
    await store.query(
      "UPDATE appservice_txn SET received_at = now() - $2::int * interval '1 hour' WHERE txn_id = $1",
      [id, hoursAgo],
    );
  };
  const ids = async () =>
    (await store.query<{ txn_id: string }>("SELECT txn_id FROM appservice_txn ORDER BY txn_id")).map(
      (r) => r.txn_id,
    );
  const waitFor = async (what: string, ok: () => Promise<boolean>, ms = 20_000) => {
    const end = Date.now() + ms;
    while (!(await ok())) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  };

  it("prunes once at start, then on every interval, and stops", async () => {
    await record("a-old", 5);
    await record("b-new", 0);
    const pruner = new TxnPruner(store, { retentionMs: 2 * HOUR, intervalMs: 100 });
    pruner.start();
    await waitFor("the first pass", async () => !(await ids()).includes("a-old"));
    assert.deepEqual(await ids(), ["b-new"]);

    await record("c-aged", 3);
    await waitFor("a timed pass", async () => !(await ids()).includes("c-aged"));
    assert.deepEqual(await ids(), ["b-new"]);

    await pruner.stop();
    await record("d-after-stop", 3);
    await new Promise((r) => setTimeout(r, 400));
    assert.deepEqual(await ids(), ["b-new", "d-after-stop"], "no pass after stop()");
  });

  it("logs a failing pass and keeps running", async () => {
    let calls = 0;
    const pruner = new TxnPruner(
      {
        pruneTransactions: async () => {
          calls++;
          throw new Error("database unavailable");
        },
      },
      { intervalMs: 50 },
    );
    pruner.start();
    await waitFor("two passes", async () => calls >= 2);
    await pruner.stop();
  });
});

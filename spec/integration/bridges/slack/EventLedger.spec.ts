import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { EventLedger } from "../../../../bridges/slack/EventLedger";
import type { ConnectorStore } from "../../../../src/core/connector";
import { Logger } from "../../../../src/log/Logger";
import { openDatabase } from "../../../../src/store/Database";
import { Migrator } from "../../../../src/store/Migrator";
import { PgStore } from "../../../../src/store/PgStore";

describe("Slack EventLedger (embedded PostgreSQL)", function () {
  this.timeout(120_000);
  let dir: string;
  let store: PgStore;
  let cs: ConnectorStore;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "clawbridge-slack-ledger-"));
    const db = await openDatabase({ dataDir: dir, embeddedPort: 0, maxConnections: 2 });
    await new Migrator({ pool: db.pool }).migrate();
    store = await PgStore.open(db);
    cs = {
      query: (sql, params) => store.query(sql, params),
      kvGet: (k) => store.kvGet("slack", k),
      kvSet: (k, v) => store.kvSet("slack", k, v),
    };
  });
  after(async () => {
    await store?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("remembers handled event ids across instances and prunes those older than a day", async () => {
    const log = new Logger("EventLedger-spec");
    const first = new EventLedger(cs, "slack", log);
    assert.equal(await first.seen("EvOLD"), false);
    await first.mark("EvOLD");
    assert.equal(await first.seen("EvOLD"), true);
    assert.equal(await new EventLedger(cs, "slack", log).seen("EvOLD"), true, "kept in the store");
    await store.kvSet("slack", "team:abc", "T1");
    await store.kvSet("other", "event:EvOLD", "x");
    await store.query("UPDATE kv SET updated_at = now() - interval '2 days'");

    await new EventLedger(cs, "slack", log).mark("EvNEW"); // a fresh ledger prunes on its first mark
    assert.equal(await first.seen("EvOLD"), false, "pruned");
    assert.equal(await first.seen("EvNEW"), true);
    assert.equal(await store.kvGet("slack", "team:abc"), "T1", "other keys of the connector stay");
    assert.equal(await store.kvGet("other", "event:EvOLD"), "x", "other namespaces stay");
  });
});

import assert from "node:assert/strict";
import { openDatabase } from "../../../src/store/Database";
import { BridgeProcess } from "../../harness/BridgeProcess";
import { type CoreRig, startCoreRig } from "../core/coreRig";

/**
 * The crypto is loaded only when `encryption.allow` is set; a crypto store that cannot be read
 * must still stop the start and say so, not surface later at the first encrypted message.
 */
describe("e2e: start with encryption allowed and a damaged crypto store (real Synapse)", function () {
  this.timeout(180_000);
  let core: CoreRig;

  before(async function () {
    this.timeout(180_000);
    core = await startCoreRig({ encryption: { allow: true } });
  });
  after(async () => {
    await core?.stop();
  });

  it("the start fails, naming the crypto store row that cannot be read", async () => {
    // The first start made the bot's device and stored its crypto store.
    await core.bridge.stop();
    const { data_dir: dataDir } = core.config.database as { data_dir: string };
    const db = await openDatabase({ dataDir, embeddedPort: 0, maxConnections: 1 });
    try {
      const damaged = await db.pool.query("UPDATE crypto_idb_row SET value = '\\x00ff'");
      assert.ok((damaged.rowCount ?? 0) > 0, "no crypto store rows to damage");
    } finally {
      await db.close();
    }
    await assert.rejects(
      BridgeProcess.start({ configPath: core.configPath, registrationPath: core.rig.registrationPath }),
      /crypto store row in .+ cannot be read/,
    );
  });
});

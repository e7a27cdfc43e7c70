/**
 * A process that keeps an OlmMachine's store in PostgreSQL and writes to it until it is killed:
 * `node --require tsx/cjs cryptoStoreChild.ts <database url> <store name> <prefix>`. It prints one
 * JSON line per step to stdout: `{"identity": …}` once the machine exists and is flushed, then
 * `{"flushed": n}` after the n-th write's flush resolved (users @<prefix>0…@<prefix>n tracked by then).
 */
import * as Crypto from "@matrix-org/matrix-sdk-crypto-wasm";
import pg from "pg";
import { CryptoStore } from "../../../src/matrix/crypto/CryptoStore";

async function main(): Promise<void> {
  const [url, storeName, prefix] = process.argv.slice(2);
  if (!url || !storeName || !prefix)
    throw new Error("usage: cryptoStoreChild.ts <database url> <store name> <prefix>");
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  await Crypto.initAsync();
  const store = CryptoStore.install(pool);
  await store.load(storeName);
  const handle = await Crypto.StoreHandle.openWithKey(storeName, new Uint8Array(32).fill(42));
  const machine = await Crypto.OlmMachine.initFromStore(
    new Crypto.UserId("@carol:hs.test"),
    new Crypto.DeviceId("CAROLDEV"),
    handle,
  );
  await store.flush();
  const keys = machine.identityKeys;
  console.log(
    JSON.stringify({
      identity: { curve25519: keys.curve25519.toBase64(), ed25519: keys.ed25519.toBase64() },
    }),
  );
  for (let n = 0; ; n++) {
    // Two writers at once, as the bridge has: a flush may find another one in flight.
    await Promise.all([
      machine.updateTrackedUsers([new Crypto.UserId(`@${prefix}${n}:hs.test`)]),
      machine.outgoingRequests(),
    ]);
    await Promise.all([store.flush(), store.flush()]);
    console.log(JSON.stringify({ flushed: n }));
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import path from "node:path";

const REPO = path.resolve(__dirname, "../../..");

/**
 * Runs `code` in a fresh Node process (the test process has loaded everything already) and
 * returns what it printed as JSON.
 */
function fresh(code: string): unknown {
  const r = spawnSync(process.execPath, ["--require", "tsx/cjs", "-e", code], {
    cwd: REPO,
    encoding: "utf8",
    timeout: 60_000,
  });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split("\n").at(-1)!);
}

/** Code that prints which of the optional features' packages and modules are loaded. */
const LOADED = `
const loaded = () => ({
  crypto: Object.keys(require.cache).some((k) => k.includes("matrix-sdk-crypto-wasm")),
  idb: Object.keys(require.cache).some((k) => k.includes("fake-indexeddb")),
  ai: Object.keys(require.cache).some((k) => /src[\\\\/]ai[\\\\/]AiService/.test(k)),
  markdown: Object.keys(require.cache).some((k) => k.includes("node_modules/marked/")),
});`;

describe("start: what a config does not use is not loaded", function () {
  this.timeout(60_000);

  it("the bridge's modules load without the crypto and the AI", () => {
    const out = fresh(`${LOADED}
require("./src/core/Bridge");
console.log(JSON.stringify(loaded()));`);
    assert.deepEqual(out, { crypto: false, idb: false, ai: false, markdown: false });
  });

  it("encryption.allow loads the crypto and installs its store when the bridge is set up; without it nothing is loaded", () => {
    const out = fresh(`${LOADED}
const pg = require("pg");
const { Encryption } = require("./src/core/Encryption");
const { configFromObject } = require("./src/config/Config");
const opts = (allow) => ({
  config: configFromObject({ homeserver: { url: "http://127.0.0.1:1", domain: "localhost" }, encryption: { allow } }),
  asToken: "as-token",
  api: {},
  pool: new pg.Pool({ host: "127.0.0.1", port: 1 }),
  store: {},
  bot: { userId: "@clawbridge:localhost" },
  requeue: async () => {},
});
const off = new Encryption(opts(false));
const before = { ...loaded(), service: off.crypto !== undefined };
const on = new Encryption(opts(true));
console.log(JSON.stringify({ before, after: { ...loaded(), service: on.crypto !== undefined, indexedDB: typeof globalThis.indexedDB } }));`);
    assert.deepEqual(out, {
      before: { crypto: false, idb: false, ai: false, markdown: false, service: false },
      after: { crypto: true, idb: true, ai: false, markdown: false, service: true, indexedDB: "object" },
    });
  });
});

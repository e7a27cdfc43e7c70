import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { freePort } from "../../scripts/lib/ports";
import { SynapseServer } from "../../scripts/lib/synapse";
import { configFromObject } from "../../src/config/Config";
import { buildRegistration, writeRegistration } from "../../src/config/registration";

/** The one Synapse of a mocha run, with the one appservice registration the bridge under test uses. */
export interface SharedRig {
  synapse: SynapseServer;
  /** Registration YAML given to Synapse (id `clawbridge-test`); pass it to the bridge with `-r`. */
  registrationPath: string;
  asToken: string;
  hsToken: string;
  /** Port the bridge must listen on (127.0.0.1): the registration's `url` points there. */
  bridgePort: number;
  /** Scratch directory of this run (Synapse lives in `<dir>/synapse`); suites may put bridge configs here. */
  dir: string;
}

/** Appservice id in the shared registration. */
export const RIG_APPSERVICE_ID = "clawbridge-test";
/** Server name of the shared Synapse. */
export const RIG_DOMAIN = "localhost";

let rig: Promise<SharedRig> | undefined;
let started: SharedRig | undefined;

async function startRig(): Promise<SharedRig> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "clawbridge-rig-"));
  const bridgePort = await freePort();
  // The registration is the product's own (`buildRegistration`, as `generate-registration` writes
  // it), so every e2e run proves that Synapse loads what the bridge generates.
  const config = configFromObject({
    homeserver: { url: "http://127.0.0.1:8008", domain: RIG_DOMAIN },
    appservice: { id: RIG_APPSERVICE_ID, url: `http://127.0.0.1:${bridgePort}`, port: bridgePort },
    platforms: {
      testnet: { enabled: true, module: "testnet" },
      othernet: { enabled: true, module: "othernet" },
      telegram: { enabled: true },
      discord: { enabled: true },
      slack: { enabled: true },
      whatsapp: { enabled: true },
    },
  });
  const registration = buildRegistration(config);
  const { as_token: asToken, hs_token: hsToken } = registration;
  const registrationPath = path.join(dir, "registration.yaml");
  writeRegistration(registrationPath, registration);
  const synapse = await SynapseServer.start({
    dir: path.join(dir, "synapse"),
    registrationFiles: [registrationPath],
  });
  started = { synapse, registrationPath, asToken, hsToken, bridgePort, dir };
  return started;
}

/**
 * Starts (on first call) and returns the Synapse shared by every e2e suite of this mocha run. Synapse reads
 * registrations only at start, so there is exactly one: the bridge under test (see {@link SharedRig}).
 * Stopped by the root `afterAll` hook in spec/setup.ts.
 */
export function sharedRig(): Promise<SharedRig> {
  if (!rig) {
    rig = startRig();
    // A failed start is not cached: the next suite tries again and reports its own error.
    rig.catch(() => {
      rig = undefined;
    });
  }
  return rig;
}

/**
 * Stops the shared Synapse if it was started and removes its scratch directory
 * (kept when `KEEP_TEST_DIRS` is set, for reading logs after a failure).
 */
export async function stopSharedRig(): Promise<void> {
  const current = started;
  started = undefined;
  rig = undefined;
  if (!current) return;
  await current.synapse.stop();
  if (process.env.KEEP_TEST_DIRS) process.stderr.write(`[rig] kept ${current.dir}\n`);
  else rmSync(current.dir, { recursive: true, force: true });
}

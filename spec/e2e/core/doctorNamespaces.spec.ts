import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { dump, load } from "js-yaml";
import { freePort } from "../../../scripts/lib/ports";
import { RIG_APPSERVICE_ID, RIG_DOMAIN, type SharedRig, sharedRig } from "../../harness/synapse";

const REPO = path.resolve(__dirname, "../../..");
const CONNECTOR = path.join(REPO, "spec/standins/testnet/TestnetConnector.ts");

function cli(args: string[]): Promise<{ status: number | null; out: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--require", "tsx/cjs", path.join(REPO, "src/cli.ts"), ...args],
      { cwd: REPO, encoding: "utf8", timeout: 60_000 },
      (err, stdout, stderr) => {
        const status = err ? (typeof err.code === "number" ? err.code : 1) : 0;
        resolve({ status, out: `${stdout}${stderr}` });
      },
    );
  });
}

const line = (out: string, name: string) =>
  out.split("\n").find((l) => new RegExp(`^\\S+ +${name} `).test(l)) ?? "";

describe("doctor compares the registration with the config, in the file and in the homeserver (real Synapse)", function () {
  this.timeout(90_000);
  let rig: SharedRig;
  let dir: string;
  let configPath: string;

  before(async () => {
    rig = await sharedRig();
    dir = mkdtempSync(path.join(os.tmpdir(), "clawbridge-doctor-ns-"));
    // A platform whose ghosts the shared registration (the one Synapse loaded) does not claim.
    const closed = await freePort();
    configPath = path.join(dir, "config.yaml");
    writeFileSync(
      configPath,
      dump({
        homeserver: { url: rig.synapse.url, domain: RIG_DOMAIN },
        appservice: {
          id: RIG_APPSERVICE_ID,
          url: `http://127.0.0.1:${rig.bridgePort}`,
          bind_address: "127.0.0.1",
          port: rig.bridgePort,
        },
        database: { url: `postgres://nobody@127.0.0.1:${closed}/none` },
        platforms: {
          unclaimed: {
            enabled: true,
            module: CONNECTOR,
            ghost_prefix: "_unclaimed_",
            alias_prefix: "_unclaimed_",
            base_url: `http://127.0.0.1:${closed}`,
            token: "unclaimed-token",
            owner: `@alice:${RIG_DOMAIN}`,
          },
        },
      }),
    );
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("fails both checks when neither the file nor the homeserver covers an enabled platform's ghosts", async () => {
    const r = await cli(["doctor", "-c", configPath, "-r", rig.registrationPath]);
    assert.equal(r.status, 1, r.out);
    assert.match(
      line(r.out, "namespaces"),
      /^FAIL .*covers @_unclaimed_1:localhost \(unclaimed ghosts\).*--keep-tokens/,
    );
    assert.match(
      line(r.out, "hs-accepts"),
      /^FAIL .*refuses the bridge as @_unclaimed_1:localhost \(unclaimed ghosts\).*restart the homeserver/,
    );
  });

  it("after regenerating the file (tokens kept) but not restarting the homeserver, names the homeserver as the cause", async () => {
    const copy = path.join(dir, "registration.yaml");
    copyFileSync(rig.registrationPath, copy);
    const regen = await cli([
      "generate-registration",
      "-c",
      configPath,
      "-f",
      copy,
      "--force",
      "--keep-tokens",
    ]);
    assert.equal(regen.status, 0, regen.out);
    const tokens = (file: string) => {
      const doc = load(readFileSync(file, "utf8")) as { as_token: string; hs_token: string };
      return [doc.as_token, doc.hs_token];
    };
    assert.deepEqual(tokens(copy), tokens(rig.registrationPath));

    const r = await cli(["doctor", "-c", configPath, "-r", copy]);
    assert.match(line(r.out, "namespaces"), /^ok /);
    assert.match(line(r.out, "as_token"), /^ok /);
    assert.match(line(r.out, "hs-accepts"), /^FAIL .*@_unclaimed_1:localhost.* older registration/);
  });
});

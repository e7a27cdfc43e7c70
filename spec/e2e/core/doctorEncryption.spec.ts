import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { dump } from "js-yaml";
import { freePort } from "../../../scripts/lib/ports";
import { SynapseServer } from "../../../scripts/lib/synapse";
import { configFromObject } from "../../../src/config/Config";
import { buildRegistration } from "../../../src/config/registration";
import { PROBE_DEVICE } from "../../../src/doctorEncryption";
import { RIG_APPSERVICE_ID, RIG_DOMAIN, type SharedRig, sharedRig } from "../../harness/synapse";

const REPO = path.resolve(__dirname, "../../..");
const BOT = `@clawbridge:${RIG_DOMAIN}`;

function cli(args: string[]): Promise<{ status: number | null; out: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--require", "tsx/cjs", path.join(REPO, "src/cli.ts"), ...args],
      { cwd: REPO, encoding: "utf8", timeout: 90_000 },
      (err, stdout, stderr) => {
        const status = err ? (typeof err.code === "number" ? err.code : 1) : 0;
        resolve({ status, out: `${stdout}${stderr}` });
      },
    );
  });
}

const line = (out: string, name: string) =>
  out.split("\n").find((l) => new RegExp(`^\\S+ +${name} `).test(l)) ?? "";

/** The bot's devices, as the appservice sees them. */
async function botDevices(url: string, asToken: string): Promise<string[]> {
  const res = await fetch(`${url}/_matrix/client/v3/devices?user_id=${encodeURIComponent(BOT)}`, {
    headers: { Authorization: `Bearer ${asToken}` },
  });
  assert.equal(res.status, 200);
  return ((await res.json()) as { devices: Array<{ device_id: string }> }).devices.map((d) => d.device_id);
}

/** A doctor config with encryption allowed and no reachable database (that check fails alone). */
async function doctorConfig(dir: string, hsUrl: string, asId: string, port: number): Promise<string> {
  const file = path.join(dir, `config-${asId}.yaml`);
  writeFileSync(
    file,
    dump({
      homeserver: { url: hsUrl, domain: RIG_DOMAIN },
      appservice: { id: asId, url: `http://127.0.0.1:${port}`, bind_address: "127.0.0.1", port },
      database: { url: `postgres://nobody@127.0.0.1:${await freePort()}/none` },
      encryption: { allow: true },
      platforms: {},
    }),
  );
  return file;
}

describe("doctor checks the homeserver's support for encrypted rooms (real Synapse)", function () {
  this.timeout(120_000);
  let dir: string;

  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), "clawbridge-doctor-e2ee-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  describe("on the shared rig while the bridge's port is taken", () => {
    let rig: SharedRig;
    let configPath: string;

    before(async () => {
      rig = await sharedRig();
      configPath = await doctorConfig(dir, rig.synapse.url, RIG_APPSERVICE_ID, rig.bridgePort);
    });

    it("while the bridge runs, checks MSC4190 and says that to-device delivery is checked with the bridge stopped", async () => {
      const bridge = http.createServer((_req, res) => {
        res.writeHead(200, { "Content-Type": "application/json" });
        res.end("{}");
      });
      await new Promise<void>((resolve) => bridge.listen(rig.bridgePort, "127.0.0.1", resolve));
      try {
        const r = await cli(["doctor", "-c", configPath, "-r", rig.registrationPath]);
        assert.match(
          line(r.out, "encryption"),
          /^warn +encryption +.*MSC4190.*not checked while the bridge is running: stop it and run doctor again/,
          r.out,
        );
      } finally {
        await new Promise((resolve) => bridge.close(resolve));
      }
    });
  });

  /**
   * A Synapse of its own (nothing else of the run sends it events: to-device delivery needs an
   * appservice the homeserver counts as up), with a registration from before encryption (no
   * MSC3202, no MSC4190) unless `current`.
   */
  function olderHomeserver(name: string, features: boolean, current = false) {
    const self = {
      synapse: undefined as SynapseServer | undefined,
      configPath: "",
      registrationPath: "",
      asToken: "",
    };
    const start = async () => {
      const port = await freePort();
      const registration: Record<string, unknown> = {
        ...buildRegistration(
          configFromObject({
            homeserver: { url: "http://127.0.0.1:8008", domain: RIG_DOMAIN },
            appservice: { id: name, url: `http://127.0.0.1:${port}`, port },
          }),
        ),
      };
      if (!current) {
        delete registration["org.matrix.msc3202"];
        delete registration["io.element.msc4190"];
      }
      self.asToken = registration.as_token as string;
      self.registrationPath = path.join(dir, `registration-${name}.yaml`);
      writeFileSync(self.registrationPath, dump(registration), { mode: 0o600 });
      self.synapse = await SynapseServer.start({
        dir: path.join(dir, `synapse-${name}`),
        registrationFiles: [self.registrationPath],
        encryption: features,
      });
      self.configPath = await doctorConfig(dir, self.synapse.url, name, port);
    };
    return { self, start, stop: async () => self.synapse?.stop() };
  }

  describe("on a homeserver set up for it", () => {
    const { self: hs, start, stop } = olderHomeserver("clawbridge-doctor", true, true);
    before(start);
    after(stop);

    it("passes after a to-device message went through, and leaves no device behind", async () => {
      const r = await cli(["doctor", "-c", hs.configPath, "-r", hs.registrationPath]);
      assert.match(line(r.out, "namespaces"), /^ok /, r.out);
      assert.match(
        line(r.out, "encryption"),
        /^ok +encryption +.*manage its devices \(MSC4190\).*to-device messages \(MSC2409\) and key counts \(MSC3202\)/,
        r.out,
      );
      assert.ok(!(await botDevices(hs.synapse!.url, hs.asToken)).includes(PROBE_DEVICE));
      assert.ok(!r.out.includes(hs.asToken), "no tokens in the output");
    });
  });

  describe("on a homeserver without the experimental features and with an older registration", () => {
    const { self: hs, start, stop } = olderHomeserver("clawbridge-old", false);
    before(start);
    after(stop);

    it("fails with the registration lines and the homeserver.yaml lines to add, and leaves no device behind", async () => {
      const r = await cli(["doctor", "-c", hs.configPath, "-r", hs.registrationPath]);
      assert.equal(r.status, 1, r.out);
      const namespaces = line(r.out, "namespaces");
      assert.match(namespaces, /^FAIL .*"org\.matrix\.msc3202: true".*"io\.element\.msc4190: true"/, r.out);
      const encryption = line(r.out, "encryption");
      assert.match(encryption, /^FAIL +encryption +the homeserver logs appservice users in/, r.out);
      assert.match(encryption, /no to-device message reached the appservice within 10 s/);
      assert.match(
        encryption,
        /fix: .*restart it; add to homeserver\.yaml: experimental_features: \{msc2409_to_device_messages_enabled: true, msc3202_transaction_extensions: true\}, and restart the homeserver/,
      );
      // The login that should have been refused made a device: deleted again, like the probe's.
      assert.deepEqual(await botDevices(hs.synapse!.url, hs.asToken), []);
      assert.ok(!r.out.includes(hs.asToken), "no tokens in the output");
    });
  });

  describe("on a homeserver with the experimental features but an older registration", () => {
    const { self: hs, start, stop } = olderHomeserver("clawbridge-oldreg", true);
    before(start);
    after(stop);

    it("sees to-device messages arrive without key counts and asks for the regenerated registration", async () => {
      const r = await cli(["doctor", "-c", hs.configPath, "-r", hs.registrationPath]);
      assert.equal(r.status, 1, r.out);
      const encryption = line(r.out, "encryption");
      assert.match(encryption, /^FAIL +encryption +the homeserver logs appservice users in/, r.out);
      assert.doesNotMatch(encryption, /no to-device message/);
      assert.match(encryption, /transactions carry no one-time key counts \(MSC3202\)/);
      assert.match(encryption, /needs org\.matrix\.msc3202: true/);
      assert.deepEqual(await botDevices(hs.synapse!.url, hs.asToken), []);
    });
  });
});

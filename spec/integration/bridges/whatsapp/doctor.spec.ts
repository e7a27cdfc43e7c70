import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { WhatsAppServer } from "../../../standins/whatsapp/WhatsAppServer";

const REPO = path.resolve(__dirname, "../../../..");
const TOKEN = "gw-access-token-2718281828";

/** `clawbridge doctor`, asynchronously (the stand-in answers in this process meanwhile). */
function doctor(configPath: string): Promise<string> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--require", "tsx/cjs", path.join(REPO, "src/cli.ts"), "doctor", "-c", configPath],
      { cwd: REPO, encoding: "utf8", timeout: 60_000 },
      (_err, stdout, stderr) => resolve(`${stdout}${stderr}`),
    );
  });
}

describe("doctor's WhatsApp check opens the websocket (wire-level stand-in)", function () {
  this.timeout(90_000);
  let wa: WhatsAppServer;
  let dir: string;
  let configPath: string;
  const waLine = (out: string) => out.split("\n").find((l) => /^\S+ +whatsapp /.test(l)) ?? "";

  before(async () => {
    wa = await WhatsAppServer.start();
    dir = mkdtempSync(path.join(os.tmpdir(), "clawbridge-wa-doctor-"));
    configPath = path.join(dir, "config.yaml");
    writeFileSync(
      configPath,
      [
        "homeserver:",
        "  url: http://127.0.0.1:1",
        "  domain: example.org",
        "database:",
        "  url: postgres://nobody@127.0.0.1:1/none",
        "platforms:",
        "  whatsapp:",
        "    enabled: true",
        `    websocket_url: '${wa.url}?access_token=${TOKEN}'`,
        "    connect_timeout_ms: 5000",
        "",
      ].join("\n"),
    );
  });
  after(async () => {
    await wa?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("fails on an upgrade answered 401, says which key to check, and never prints the token", async () => {
    wa.refuseUpgrade = 401;
    const out = await doctor(configPath);
    const line = waLine(out);
    assert.match(
      line,
      /^FAIL +whatsapp +WhatsApp refused the connection: HTTP 401 on the websocket upgrade/,
      out,
    );
    assert.match(line, /access_token=\*\*\*/);
    assert.match(line, /Check platforms\.whatsapp\.websocket_url/);
    assert.ok(!out.includes(TOKEN), "the token is not in doctor's output");
    assert.ok(wa.refusals.length >= 1, "doctor really tried the upgrade");
  });

  it("passes when the upgrade is accepted, still without the token", async () => {
    wa.refuseUpgrade = undefined;
    const out = await doctor(configPath);
    assert.match(
      waLine(out),
      /^ok +whatsapp +the websocket at ws:\/\/127\.0\.0\.1:\d+\/ws\/chat\?access_token=\*\*\* opens/,
      out,
    );
    assert.ok(!out.includes(TOKEN));
  });
});

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { dump, load } from "js-yaml";
import type { MatrixTestClient } from "../../harness/MatrixTestClient";
import { RIG_APPSERVICE_ID } from "../../harness/synapse";
import { type CoreRig, portalRoomFor, startCoreRig, user } from "./coreRig";

const REPO = path.resolve(__dirname, "../../..");

/** Runs the CLI without blocking this process: the platform stand-in lives here and must answer. */
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

/** A copy of the rig's config (beside it, so relative paths hold) with `appservice.public_url`. */
function configWithPublicUrl(configPath: string, publicUrl: string, name: string): string {
  const config = load(readFileSync(configPath, "utf8")) as { appservice?: Record<string, unknown> };
  config.appservice = { ...config.appservice, public_url: publicUrl };
  const out = path.join(path.dirname(configPath), `${name}.yaml`);
  writeFileSync(out, dump(config));
  return out;
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

describe("the appservice API against the real Synapse", function () {
  this.timeout(90_000);
  let core: CoreRig;
  let alice: MatrixTestClient;
  let room: string;
  let txnBase: string;

  const push = (txnId: string, body: unknown, token: string | null = core.rig.hsToken) =>
    fetch(`http://127.0.0.1:${core.rig.bridgePort}/_matrix/app/v1/transactions/${txnId}`, {
      method: "PUT",
      headers: { "Content-Type": "application/json", ...(token ? { Authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    });
  const messageEvent = (body: string) => ({
    type: "m.room.message",
    room_id: room,
    sender: alice.userId,
    event_id: `$${randomBytes(12).toString("base64url")}`,
    origin_server_ts: Date.now(),
    content: { msgtype: "m.text", body },
  });
  const relayed = (text: string) =>
    core.testnet.calls.filter((c) => (c.body as { text?: string } | undefined)?.text === text);
  /** A round trip through the bridge: everything pushed before it has been processed. */
  const barrier = async (label: string) => {
    await alice.sendText(room, `barrier ${label}`);
    await core.testnet.waitFor(
      (c) => (c.body as { text?: string } | undefined)?.text === `barrier ${label}`,
      15_000,
    );
  };

  before(async () => {
    core = await startCoreRig();
    alice = await user("alice");
    core.testnet.addChat({ id: "aschat", name: "AS chat", kind: "group" });
    core.testnet.injectMessage({ chat: "aschat", sender: "u9", text: "open the portal" });
    room = await portalRoomFor(alice, "aschat");
    txnBase = `test-${randomBytes(6).toString("hex")}`;
  });
  after(async () => core?.stop());

  it("is reachable by the homeserver: the MSC2659 ping round trip succeeds", async () => {
    const res = await fetch(
      `${core.rig.synapse.url}/_matrix/client/v1/appservice/${RIG_APPSERVICE_ID}/ping`,
      {
        method: "POST",
        headers: { Authorization: `Bearer ${core.rig.asToken}`, "Content-Type": "application/json" },
        body: JSON.stringify({ transaction_id: "ping-test" }),
      },
    );
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal(typeof ((await res.json()) as { duration_ms: unknown }).duration_ms, "number");
  });

  it("passes every doctor check while running", async () => {
    const r = await cli(["doctor", "-c", core.configPath, "-r", core.rig.registrationPath]);
    assert.equal(r.status, 0, r.out);
    assert.match(r.out, /^ok +ping +homeserver reached .* \(the running bridge\)$/m);
    assert.match(r.out, /^ok +database/m);
    assert.match(r.out, /^ok +testnet/m);
    assert.match(
      r.out,
      /^warn +public_url +appservice\.public_url is not set: avatars of Matrix users will not show on Discord and Slack — fix: set it/m,
    );
    assert.match(r.out, /all checks passed/);
  });

  it("doctor fails public_url when it leads to a listener without the media proxy", async () => {
    // The running bridge has no public_url, so it serves no media there.
    const cfg = configWithPublicUrl(
      core.configPath,
      `http://127.0.0.1:${core.rig.bridgePort}`,
      "doctor-nomedia",
    );
    const r = await cli(["doctor", "-c", cfg, "-r", core.rig.registrationPath]);
    assert.equal(r.status, 1, r.out);
    assert.match(
      r.out,
      /^FAIL +public_url +a signed test image at http:\/\/127\.0\.0\.1:\d+ answered HTTP 404.* — fix: make /m,
    );
    assert.match(r.out, /1 check\(s\) failed/);
  });

  it("refuses a missing token with 401 and a wrong one with 403, processing nothing", async () => {
    const none = await push(
      `${txnBase}-noauth`,
      { events: [messageEvent("must not relay (no token)")] },
      null,
    );
    assert.equal(none.status, 401);
    assert.equal(((await none.json()) as { errcode: string }).errcode, "M_UNAUTHORIZED");
    const wrong = await push(
      `${txnBase}-badauth`,
      { events: [messageEvent("must not relay (bad token)")] },
      "x".repeat(64),
    );
    assert.equal(wrong.status, 403);
    assert.equal(((await wrong.json()) as { errcode: string }).errcode, "M_FORBIDDEN");
    await barrier("auth");
    assert.equal(relayed("must not relay (no token)").length, 0);
    assert.equal(relayed("must not relay (bad token)").length, 0);
  });

  it("processes a transaction once when it is pushed twice, also across a restart", async () => {
    const txn = { events: [messageEvent("exactly once please")] };
    assert.equal((await push(`${txnBase}-dup`, txn)).status, 200);
    await core.testnet.waitFor(
      (c) => (c.body as { text?: string } | undefined)?.text === "exactly once please",
    );
    assert.equal((await push(`${txnBase}-dup`, txn)).status, 200);
    await barrier("dup1");
    await core.restart();
    assert.equal((await push(`${txnBase}-dup`, txn)).status, 200);
    await barrier("dup2");
    assert.equal(relayed("exactly once please").length, 1);
  });

  it("logs and skips malformed events without losing the rest of the transaction", async () => {
    const txn = { events: [{ type: 42 }, "nonsense", messageEvent("after the malformed ones")] };
    assert.equal((await push(`${txnBase}-bad`, txn)).status, 200);
    await core.testnet.waitFor(
      (c) => (c.body as { text?: string } | undefined)?.text === "after the malformed ones",
    );
    assert.equal((await push(`${txnBase}-notjson`, "][")).status, 400);
    assert.equal(core.bridge.running, true);
  });

  it("accepts ephemeral events under the stable and the unstable key", async () => {
    const typing = (ids: string[]) => ({ type: "m.typing", room_id: room, content: { user_ids: ids } });
    await push(`${txnBase}-eph1`, { events: [], ephemeral: [typing([alice.userId])] });
    const on = await core.testnet.waitFor((c) => c.path === "/chats/aschat/typing");
    assert.equal((on.body as { typing: boolean }).typing, true);
    await push(`${txnBase}-eph2`, { events: [], "de.sorunome.msc2409.ephemeral": [typing([])] });
    await core.testnet.waitFor(
      (c) => c.path === "/chats/aschat/typing" && (c.body as { typing: boolean }).typing === false,
    );
  });

  it("passes doctor with the bridge stopped (doctor answers the ping itself) and migrate is a no-op", async () => {
    await core.bridge.stop();
    const r = await cli(["doctor", "-c", core.configPath, "-r", core.rig.registrationPath]);
    assert.equal(r.status, 0, r.out);
    assert.match(r.out, /^ok +ping .*doctor's listener/m);
    assert.match(r.out, /^warn +public_url /m);
    const m = await cli(["migrate", "-c", core.configPath]);
    assert.equal(m.status, 0, m.out);
    assert.match(m.out, /up to date/);
  });

  it("doctor fetches a test image through public_url (doctor's listener), and names the fix when it cannot", async () => {
    assert.equal(core.bridge.running, false, "the previous test stopped the bridge");
    const good = configWithPublicUrl(
      core.configPath,
      `http://127.0.0.1:${core.rig.bridgePort}/`,
      "doctor-media",
    );
    const ok = await cli(["doctor", "-c", good, "-r", core.rig.registrationPath]);
    assert.equal(ok.status, 0, ok.out);
    assert.match(ok.out, /^ok +public_url +http:\/\/127\.0\.0\.1:\d+\/ serves the bridge's media proxy$/m);

    const port = await closedPort();
    const bad = configWithPublicUrl(core.configPath, `http://127.0.0.1:${port}`, "doctor-unreachable");
    const r = await cli(["doctor", "-c", bad, "-r", core.rig.registrationPath]);
    assert.equal(r.status, 1, r.out);
    assert.match(
      r.out,
      new RegExp(
        `^FAIL +public_url +fetching a signed test image at http://127\\.0\\.0\\.1:${port} failed: .*` +
          `— fix: make http://127\\.0\\.0\\.1:${port}/_clawbridge/media/v1/ reach this bridge's listener \\(appservice\\.port ${core.rig.bridgePort}\\)`,
        "m",
      ),
    );
  });
});

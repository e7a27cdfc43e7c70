import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import http from "node:http";
import type { MatrixTestClient } from "../../harness/MatrixTestClient";
import { RIG_APPSERVICE_ID, RIG_DOMAIN, type SharedRig, sharedRig } from "../../harness/synapse";
import { user } from "./coreRig";

/**
 * What the shared Synapse gives the appservice for encrypted rooms (the registration's
 * `org.matrix.msc3202` and `io.element.msc4190`, homeserver.yaml's experimental features), seen
 * on the wire: a plain listener takes the bridge's place on the registration's URL.
 */
describe("the homeserver side of end-to-end encryption (real Synapse, appservice wire)", function () {
  this.timeout(60_000);
  let rig: SharedRig;
  let alice: MatrixTestClient;
  let listener: http.Server;
  const txns: Record<string, unknown>[] = [];
  const authHeaders: string[] = [];
  const ghost = `@_testnet_e2ee1:${RIG_DOMAIN}`;
  const device = "E2EEPROBE1";

  /** A client-server call with the as_token; `query` carries user_id / device_id masquerading. */
  async function asCall(
    method: string,
    path: string,
    query: Record<string, string> = {},
    body?: unknown,
  ): Promise<{ status: number; json: Record<string, unknown> }> {
    const qs = new URLSearchParams(query).toString();
    const res = await fetch(`${rig.synapse.url}${path}${qs ? `?${qs}` : ""}`, {
      method,
      headers: { Authorization: `Bearer ${rig.asToken}`, "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
  }

  async function waitForTxn(match: (t: Record<string, unknown>) => boolean, what: string) {
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      const t = txns.find(match);
      if (t) return t;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`no transaction ${what} within 15 s; got ${JSON.stringify(txns).slice(0, 2000)}`);
  }

  /** A master cross-signing key for `userId` (a fresh ed25519 public key, unpadded base64). */
  function masterKey(userId: string) {
    const { publicKey } = generateKeyPairSync("ed25519");
    const x = (publicKey.export({ format: "jwk" }) as { x: string }).x.replace(/-/g, "+").replace(/_/g, "/");
    return { master_key: { user_id: userId, usage: ["master"], keys: { [`ed25519:${x}`]: x } } };
  }

  before(async () => {
    rig = await sharedRig();
    alice = await user("alice");
    listener = http.createServer((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => {
        body += c.toString("utf8");
      });
      req.on("end", () => {
        if (req.method === "PUT" && req.url?.startsWith("/_matrix/app/v1/transactions/")) {
          txns.push(JSON.parse(body) as Record<string, unknown>);
          authHeaders.push(String(req.headers.authorization));
        }
        res.writeHead(200, { "Content-Type": "application/json" });
        res.end("{}");
      });
    });
    // The bridge's port: free between suites, since every suite stops its bridge.
    await new Promise<void>((resolve, reject) => {
      listener.once("error", reject);
      listener.listen(rig.bridgePort, "127.0.0.1", resolve);
    });
    // The ping makes Synapse retry at once what an earlier suite's stopped bridge left undelivered:
    // while an appservice counts as down, Synapse drops to-device messages instead of queueing them.
    const ping = await asCall("POST", `/_matrix/client/v1/appservice/${RIG_APPSERVICE_ID}/ping`, {}, {});
    assert.equal(ping.status, 200, JSON.stringify(ping.json));
    const reg = await asCall(
      "POST",
      "/_matrix/client/v3/register",
      {},
      { type: "m.login.application_service", username: "_testnet_e2ee1", inhibit_login: true },
    );
    assert.ok(reg.status === 200 || reg.json.errcode === "M_USER_IN_USE", JSON.stringify(reg.json));
  });

  after(async () => {
    await new Promise((r) => listener?.close(r));
  });

  it("MSC4190: the appservice creates a ghost's device (201, then 200) and acts as that device", async () => {
    const first = await asCall("PUT", `/_matrix/client/v3/devices/${device}`, { user_id: ghost }, {});
    assert.equal(first.status, 201, JSON.stringify(first.json));
    const again = await asCall(
      "PUT",
      `/_matrix/client/v3/devices/${device}`,
      { user_id: ghost },
      { display_name: "clawbridge" },
    );
    assert.equal(again.status, 200, JSON.stringify(again.json));
    const list = await asCall("GET", "/_matrix/client/v3/devices", { user_id: ghost });
    assert.deepEqual(
      (list.json.devices as Array<{ device_id: string; display_name: string }>).map((d) => [
        d.device_id,
        d.display_name,
      ]),
      [[device, "clawbridge"]],
    );
    const me = await asCall("GET", "/_matrix/client/v3/account/whoami", {
      user_id: ghost,
      device_id: device,
    });
    assert.deepEqual([me.status, me.json.user_id, me.json.device_id], [200, ghost, device]);
  });

  it("refuses masquerading as a device that does not exist, and devices of users outside the namespaces", async () => {
    const unknown = await asCall("GET", "/_matrix/client/v3/account/whoami", {
      user_id: ghost,
      device_id: "NOSUCHDEVICE",
    });
    assert.deepEqual([unknown.status, unknown.json.errcode], [400, "M_UNKNOWN_DEVICE"]);
    const foreign = await asCall("PUT", "/_matrix/client/v3/devices/STOLEN", { user_id: alice.userId }, {});
    assert.equal(foreign.status, 403, JSON.stringify(foreign.json));
    const unregistered = await asCall(
      "PUT",
      "/_matrix/client/v3/devices/EARLY",
      { user_id: `@_testnet_e2ee_never:${RIG_DOMAIN}` },
      {},
    );
    assert.deepEqual([unregistered.status, unregistered.json.errcode], [403, "M_FORBIDDEN"]);
    assert.match(String(unregistered.json.error), /has not registered this user/);
  });

  it("MSC4190 is in effect: appservice logins are refused, registration needs inhibit_login", async () => {
    const login = await asCall(
      "POST",
      "/_matrix/client/v3/login",
      {},
      { type: "m.login.application_service", identifier: { type: "m.id.user", user: "_testnet_e2ee1" } },
    );
    assert.deepEqual([login.status, login.json.errcode], [400, "M_APPSERVICE_LOGIN_UNSUPPORTED"]);
    const localpart = `_testnet_e2ee_reg${Date.now()}`;
    const register = await asCall(
      "POST",
      "/_matrix/client/v3/register",
      {},
      { type: "m.login.application_service", username: localpart },
    );
    assert.deepEqual([register.status, register.json.errcode], [400, "M_APPSERVICE_LOGIN_UNSUPPORTED"]);
    // Synapse 1.163 refuses only after creating the user: the refused call still registered it.
    const retry = await asCall(
      "POST",
      "/_matrix/client/v3/register",
      {},
      { type: "m.login.application_service", username: localpart, inhibit_login: true },
    );
    assert.equal(retry.json.errcode, "M_USER_IN_USE");
  });

  it("pushes to-device messages with their recipient, key counts and device list changes to the appservice", async () => {
    const content = { probe: `to-device ${Date.now()}` };
    await alice.request("PUT", `/_matrix/client/v3/sendToDevice/org.clawbridge.test/${Date.now()}`, {
      messages: { [ghost]: { [device]: content } },
    });
    const txn = await waitForTxn(
      (t) =>
        Array.isArray(t["de.sorunome.msc2409.to_device"]) &&
        (t["de.sorunome.msc2409.to_device"] as Array<{ content?: unknown }>).some(
          (m) => JSON.stringify(m.content) === JSON.stringify(content),
        ),
      "with alice's to-device message",
    );
    const message = (txn["de.sorunome.msc2409.to_device"] as Array<Record<string, unknown>>).find(
      (m) => JSON.stringify(m.content) === JSON.stringify(content),
    );
    assert.deepEqual(message, {
      type: "org.clawbridge.test",
      sender: alice.userId,
      to_user_id: ghost,
      to_device_id: device,
      content,
    });
    // MSC3202: the recipient device's one-time key count (none uploaded), under both spellings.
    for (const key of [
      "org.matrix.msc3202.device_one_time_keys_count",
      "org.matrix.msc3202.device_one_time_key_counts",
    ]) {
      const counts = txn[key] as Record<string, Record<string, unknown>> | undefined;
      assert.deepEqual(counts?.[ghost]?.[device], {}, `${key}: ${JSON.stringify(counts)}`);
    }
    const fallback = txn["org.matrix.msc3202.device_unused_fallback_key_types"] as
      | Record<string, Record<string, unknown>>
      | undefined;
    assert.deepEqual(fallback?.[ghost]?.[device], []);
    // The device creation was announced as a device list change of the ghost.
    await waitForTxn(
      (t) =>
        (
          (t["org.matrix.msc3202.device_lists"] as { changed?: string[] } | undefined)?.changed ?? []
        ).includes(ghost),
      "announcing the ghost's device list change",
    );
    assert.ok(
      authHeaders.every((h) => h === `Bearer ${rig.hsToken}`),
      "transactions carry the hs_token",
    );
  });

  it("lets the appservice set up and replace a ghost's cross-signing keys without interactive auth", async () => {
    const first = masterKey(ghost);
    const second = masterKey(ghost);
    const upload = (keys: unknown) =>
      asCall("POST", "/_matrix/client/v3/keys/device_signing/upload", { user_id: ghost }, keys);
    assert.equal((await upload(first)).status, 200);
    const replaced = await upload(second);
    assert.equal(replaced.status, 200, JSON.stringify(replaced.json));
    const query = await alice.request<{ master_keys?: Record<string, { keys: Record<string, string> }> }>(
      "POST",
      "/_matrix/client/v3/keys/query",
      { device_keys: { [ghost]: [] } },
    );
    assert.deepEqual(query.master_keys?.[ghost]?.keys, second.master_key.keys);
    // The same replacement by an ordinary user needs interactive auth (its first upload does not).
    const bob = await user("bob");
    const own = (keys: unknown) =>
      fetch(`${rig.synapse.url}/_matrix/client/v3/keys/device_signing/upload`, {
        method: "POST",
        headers: { Authorization: `Bearer ${bob.accessToken}`, "Content-Type": "application/json" },
        body: JSON.stringify(keys),
      });
    const bobFirst = await own(masterKey(bob.userId));
    assert.ok(bobFirst.status === 200 || bobFirst.status === 401, String(bobFirst.status));
    assert.equal((await own(masterKey(bob.userId))).status, 401);
  });

  it("the appservice deletes the ghost's device without interactive auth", async () => {
    const del = await asCall("DELETE", `/_matrix/client/v3/devices/${device}`, { user_id: ghost }, {});
    assert.equal(del.status, 200, JSON.stringify(del.json));
    const list = await asCall("GET", "/_matrix/client/v3/devices", { user_id: ghost });
    assert.deepEqual(list.json.devices, []);
  });
});

import assert from "node:assert/strict";
import { E2eeClient, type E2eeEvent } from "../../harness/E2eeClient";
import { sharedRig } from "../../harness/synapse";
import { HomeserverProxy } from "../../standins/homeserver/HomeserverProxy";
import { scriptedBackend } from "../../standins/llm/backend";
import { AI, type AiRig, lastContent, startAiRig } from "../ai/aiRig";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const isAnswer = (body: string) => (e: E2eeEvent) =>
  e.sender === AI && e.type === "m.room.message" && e.content.msgtype === "m.text" && e.content.body === body;

/**
 * The bridge takes transactions from the moment it listens, before its devices are loaded: a
 * proxy in front of Synapse holds the bridge's start (its profile lookups) while a room key
 * reaches it, so that key arrives in exactly that gap.
 */
describe("e2e: a room key that arrives while the bridge starts (real E2EE client, real Synapse)", function () {
  this.timeout(180_000);
  let proxy: HomeserverProxy;
  let rig: AiRig;
  let lena: E2eeClient;
  let dm: string;

  before(async function () {
    this.timeout(180_000);
    proxy = await HomeserverProxy.start({ target: (await sharedRig()).synapse.url });
    rig = await startAiRig(
      {},
      {
        permissions: { "@lena:localhost": "user" },
        encryption: { allow: true, key_wait_seconds: 4 },
        homeserverUrl: proxy.url,
      },
    );
    lena = await E2eeClient.register(rig.core.rig.synapse, "lena");
    dm = await lena.createEncryptedRoom({ isDirect: true, invite: [AI] });
    await lena.waitForEvent(
      dm,
      (e) => e.type === "m.room.member" && e.stateKey === AI && e.content.membership === "join",
      30_000,
    );
    rig.openai.backend = scriptedBackend("Before the restart.");
    await lena.sendText(dm, "hello before");
    await lena.waitForEvent(dm, isAnswer("Before the restart."), 30_000);
    // Synapse hands the bridge the answer's echo and typing first: a push that finds the
    // bridge stopped makes Synapse count it as down, and then it drops to-device messages.
    await sleep(1500);
  });
  after(async () => {
    await lena?.stop();
    await rig?.stop();
    await proxy?.close();
  });

  it("its to-device message is kept for the devices, and the message it unlocks is answered", async () => {
    const since = Date.now();
    const release = proxy.hold((c) => c.method === "GET" && c.path.startsWith("/_matrix/client/v3/profile/"));
    let restarting: Promise<void> | undefined;
    try {
      restarting = rig.core.restart("SIGTERM");
      // The bridge listens, then looks up its users' profiles: held there, before the crypto starts.
      const deadline = Date.now() + 30_000;
      while (release.held() === 0 && Date.now() < deadline) await sleep(50);
      assert.ok(release.held() > 0, "the bridge's start reached its profile lookup");
      assert.ok(proxy.calls.some((c) => c.time >= since && c.path.includes("/profile/")));
      // A new session: its key goes to the AI's device as a to-device message, now.
      await lena.rotateRoomKey(dm);
      rig.openai.backend = scriptedBackend("Heard you during my start.");
      await lena.sendText(dm, "said while the bridge starts");
      await sleep(2000); // Synapse hands the key (and the message) to the listening bridge
    } finally {
      release();
    }
    await restarting;
    const answer = await lena.waitForEvent(dm, isAnswer("Heard you during my start."), 30_000);
    assert.equal(answer.encrypted, true);
    await rig.openai.waitFor((r) => lastContent(r) === "lena: said while the bridge starts");
    assert.ok(
      !lena.timeline(dm).some((e) => /could not be decrypted/.test(String(e.content.body))),
      "no message was given up for a lost key",
    );
  });
});

import { strict as assert } from "node:assert";
import type { MatrixTestClient } from "../../harness/MatrixTestClient";
import { scriptedBackend } from "../../standins/llm/backend";
import { ghostId, portalRoomFor, user } from "../core/coreRig";
import { AI, type AiRig, isAnswer, sleep, startAiRig } from "./aiRig";

/**
 * `ai.auto_join`: a platform user who writes to the bridge in a direct chat gets the AI's answer
 * on the platform with nobody in Matrix inviting it; groups are left alone unless configured;
 * the owner removes it with `!ai leave` and it stays out.
 */
describe("e2e: the AI joins new direct-chat portals by itself (ai.auto_join)", function () {
  this.timeout(120_000);
  let rig: AiRig;
  let alice: MatrixTestClient;
  let dm: string;

  before(async function () {
    this.timeout(180_000);
    alice = await user("alice");
    rig = await startAiRig({ auto_join: { default: "dm" } });
    rig.openai.backend = scriptedBackend("Hi Dora, the AI answering your direct message.");
    const { testnet } = rig.core;
    testnet.addUser({ id: "ajdora", name: "Dora Direct" });
    testnet.addChat({ id: "ajdm1", name: "Dora Direct", kind: "dm" });
    testnet.addChat({ id: "ajgroup1", name: "Auto-join group", kind: "group" });
  });
  after(async () => rig?.stop());

  const aiSent = (chat: string) => rig.core.testnet.sent(chat).filter((m) => m.sender_mxid === AI);

  it("answers a platform user's first direct message on the platform, nobody in Matrix inviting it", async () => {
    const { testnet } = rig.core;
    testnet.injectMessage({ chat: "ajdm1", sender: "ajdora", text: "hello, is anyone there?" });
    const room = await portalRoomFor(alice, "ajdm1");
    dm = room;
    const asked = await alice.waitFor(
      (e) => e.sender === ghostId("ajdora") && e.content.body === "hello, is anyone there?",
      { roomId: room, timeoutMs: 30_000 },
    );
    await alice.waitFor((e) => isAnswer(e) && e.room_id === room, { roomId: room, timeoutMs: 30_000 });
    const req = await rig.openai.waitFor((q) =>
      (q.chat?.messages ?? []).some((m) => m.content === "Dora Direct (Testnet): hello, is anyone there?"),
    );
    assert.ok(req, "the model was asked the platform user's question");
    const deadline = Date.now() + 30_000;
    while (!aiSent("ajdm1").some((m) => m.text.includes("Hi Dora"))) {
      if (Date.now() > deadline) assert.fail("the AI's answer never reached the platform");
      await sleep(100);
    }
    // The portal's creation did not wait on anything the AI does: the question is bridged once.
    assert.equal(
      alice.eventsIn(room).filter((e) => e.sender === ghostId("ajdora") && e.event_id === asked.event_id)
        .length,
      1,
    );
  });

  it("leaves new group portals alone with `dm`", async () => {
    const { testnet } = rig.core;
    testnet.injectMessage({ chat: "ajgroup1", sender: "ajdora", text: "AI, are you in this group?" });
    const room = await portalRoomFor(alice, "ajgroup1");
    await alice.waitFor((e) => e.content.body === "AI, are you in this group?", {
      roomId: room,
      timeoutMs: 30_000,
    });
    const members = await alice.members(room);
    assert.ok(!members.some((m) => m.userId === AI), "the AI is not in the group portal");
  });

  it("stays out once its owner removes it with `!ai leave`", async () => {
    const { testnet } = rig.core;
    await alice.sendText(dm, "!ai leave");
    await alice.waitFor(
      (e) => e.type === "m.room.member" && e.state_key === AI && e.content.membership === "leave",
      {
        roomId: dm,
        timeoutMs: 30_000,
      },
    );
    const answers = aiSent("ajdm1").length;
    const chats = rig.openai.chats().length;
    testnet.injectMessage({ chat: "ajdm1", sender: "ajdora", text: "still there?" });
    await alice.waitFor((e) => e.content.body === "still there?", { roomId: dm, timeoutMs: 30_000 });
    await sleep(1500);
    assert.equal(rig.openai.chats().length, chats, "the model is not asked");
    assert.equal(aiSent("ajdm1").length, answers, "nothing more from the AI on the platform");
  });
});

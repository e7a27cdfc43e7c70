import { strict as assert } from "node:assert";
import type { MatrixEvent, MatrixTestClient } from "../../harness/MatrixTestClient";
import { BOT, user } from "../core/coreRig";
import { AI, type AiRig, isAnswer, isNoticeFromAi, startAiRig } from "./aiRig";

const STAY_OUT =
  /management room with the bridge bot: everything you write here is a bridge command.*direct chat with me \(@ai:/;

describe("e2e: the AI stays out of management rooms (real Synapse, model stand-ins)", function () {
  this.timeout(120_000);
  let rig: AiRig;
  let alice: MatrixTestClient;

  before(async function () {
    this.timeout(180_000);
    alice = await user("alice");
    rig = await startAiRig();
  });

  after(async () => {
    await rig?.stop();
  });

  const botSays = (room: string, text: string) =>
    alice.waitFor((e) => e.sender === BOT && String(e.content.body).includes(text), {
      roomId: room,
      timeoutMs: 30_000,
    });
  const aiLeft = (e: MatrixEvent) =>
    e.type === "m.room.member" && e.state_key === AI && e.content.membership === "leave";

  it("declines an invite into a management room with a notice to DM it, and bridge commands keep working there", async () => {
    const dm = await alice.createDm(BOT);
    await botSays(dm, "management room");
    const before = rig.openai.chats().length;
    await alice.invite(dm, AI);
    await alice.waitFor((e) => isNoticeFromAi(e, STAY_OUT), { roomId: dm, timeoutMs: 30_000 });
    await alice.waitFor(aiLeft, { roomId: dm, timeoutMs: 30_000 });
    await alice.sendText(dm, "help");
    await botSays(dm, "Commands:");
    await alice.sendText(dm, "AI, are you there?");
    await botSays(dm, "Unknown command");
    assert.ok(!alice.eventsIn(dm).some((e) => isAnswer(e)));
    assert.equal(rig.openai.chats().length, before, "nothing in the management room reached the model");
    const members = await alice.members(dm);
    assert.ok(!members.some((m) => m.userId === AI && m.membership === "join"));
  });

  it("a room it is in that became a management room is left, with the notice, by the next start at the latest", async () => {
    // Both invited at once: whichever invite the bridge takes first, the AI ends up outside.
    const dm = await alice.createRoom({ is_direct: true, invite: [AI, BOT], preset: "trusted_private_chat" });
    await botSays(dm, "management room");
    await rig.core.restart();
    await alice.waitFor((e) => isNoticeFromAi(e, STAY_OUT), { roomId: dm, timeoutMs: 30_000 });
    await alice.waitFor(aiLeft, { roomId: dm, timeoutMs: 30_000 });
    const members = await alice.members(dm);
    assert.ok(!members.some((m) => m.userId === AI && m.membership === "join"));
    assert.ok(
      members.some((m) => m.userId === BOT && m.membership === "join"),
      "the bridge bot stays",
    );
  });
});

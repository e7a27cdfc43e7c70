import { strict as assert } from "node:assert";
import type { MatrixTestClient } from "../../harness/MatrixTestClient";
import type { DiscordServer } from "../../standins/discord/DiscordServer";
import { discordSection, startWorld, until, type WorldIds } from "../../standins/discord/harness";
import { scriptedBackend } from "../../standins/llm/backend";
import { portalRoomFor, user } from "../core/coreRig";
import { AI, type AiRig, isAnswer, sleep, startAiRig } from "./aiRig";

/**
 * History brought into a new portal happened before the room existed: the AI, which joins new
 * direct-chat portals by itself, reads it as context and answers only the live message.
 */
describe("e2e: the AI does not answer a new portal's backfilled history (Discord DM, ai.auto_join)", function () {
  this.timeout(180_000);
  let rig: AiRig;
  let dc: DiscordServer;
  let ids: WorldIds;
  let alice: MatrixTestClient;

  before(async function () {
    this.timeout(180_000);
    alice = await user("alice");
    ({ server: dc, ids } = await startWorld());
    rig = await startAiRig(
      { auto_join: { default: "dm" } },
      {
        platforms: {
          discord: discordSection(dc, [ids.guild]),
        },
      },
    );
    rig.openai.backend = scriptedBackend("Hello Bob, the AI answering the live message.");
    await until(() => dc.liveSessions() === 1, 60_000, "the bridge's gateway session");
    await sleep(1000);
  });
  after(async () => {
    await rig?.stop();
    await dc?.close();
  });

  it("answers the live message once, with the history in its context", async () => {
    const dm = dc.openDm(ids.bob);
    const t0 = Date.now() - 3_600_000;
    for (let i = 0; i < 4; i++) dc.pastMessage(dm, ids.bob, `old question ${i}?`, t0 + i * 60_000);
    dc.postMessage(dm, ids.bob, "the live question?");
    const room = await portalRoomFor(alice, dm, "discord");
    await alice.waitFor((e) => isAnswer(e) && e.room_id === room, { roomId: room, timeoutMs: 30_000 });
    // Time for any answer to history to have started.
    await sleep(3000);
    const asked = rig.openai.requests.filter((r) =>
      (r.chat?.messages ?? []).some((m) => String(m.content).includes("question")),
    );
    assert.equal(asked.length, 1, "the model was asked once");
    const last = asked[0]!.chat!.messages.at(-1)!;
    assert.match(String(last.content), /the live question\?/);
    assert.ok(
      asked[0]!.chat!.messages.some((m) => String(m.content).includes("old question 3?")),
      "the history is in the context",
    );
    // Its answer streams as one message edited in place: one message, edits aside.
    const answers = (await alice.messages(room, { dir: "f", limit: 100 })).filter(
      (e) => e.sender === AI && e.type === "m.room.message" && !e.content["m.new_content"],
    );
    assert.equal(answers.length, 1, "one answer in the room");
  });
});

import { strict as assert } from "node:assert";
import { StreamingReply } from "../../../src/ai/StreamingReply";
import { MatrixApi } from "../../../src/matrix/MatrixApi";
import type { MatrixTestClient } from "../../harness/MatrixTestClient";
import { RIG_DOMAIN } from "../../harness/synapse";
import { type LlmBackend, scriptedBackend, wordChunks } from "../../standins/llm/backend";
import { user } from "../core/coreRig";
import {
  AI,
  type AiRig,
  groupWithAi,
  isAnswer,
  isEditOf,
  isNoticeFromAi,
  lastContent,
  shownText,
  sleep,
  startAiRig,
  waitForShown,
} from "./aiRig";

/** Streams `text` word by word at once, then never ends (until the client goes away). */
function hangingBackend(text = ""): LlmBackend {
  return (req) => ({
    chunks: (async function* () {
      for (const w of wordChunks(text)) yield w;
      await new Promise<void>((resolve) => req.signal.addEventListener("abort", () => resolve()));
    })(),
  });
}

describe("e2e: AI answers survive a crash of the bridge (real Synapse, model stand-ins)", function () {
  this.timeout(180_000);
  let rig: AiRig;
  let alice: MatrixTestClient;
  let bob: MatrixTestClient;
  let room: string;

  before(async function () {
    this.timeout(180_000);
    [alice, bob] = await Promise.all([user("alice"), user("bob")]);
    // A long provider timeout: the hung model must still be generating when the bridge is killed.
    rig = await startAiRig({}, { timeoutMs: 120_000 });
    room = await groupWithAi(alice, bob, "ai durable");
  });

  after(async () => {
    await rig?.stop();
  });

  const requestsFor = (marker: string) => rig.openai.chats().filter((r) => lastContent(r).includes(marker));
  const answersTo = (id: string) => alice.eventsIn(room).filter((e) => isAnswer(e, id));

  it("a question whose answer was being generated when the bridge was SIGKILLed is answered once after the restart", async () => {
    rig.openai.backend = hangingBackend();
    const id = await alice.sendText(room, "AI, what survives a crash?");
    await rig.openai.waitFor((r) => lastContent(r).includes("what survives a crash"), 30_000);
    await sleep(300);
    assert.equal(answersTo(id).length, 0);
    rig.openai.backend = scriptedBackend("Durable triggers survive it.");
    await rig.core.restart("SIGKILL");
    const answer = await alice.waitFor((e) => isAnswer(e, id), { roomId: room, timeoutMs: 60_000 });
    await waitForShown(alice, room, answer, "Durable triggers survive it.");
    // Time for a second answer to show up, were the trigger taken twice (resumed and replayed).
    await sleep(4000);
    assert.equal(answersTo(id).length, 1);
    assert.equal(requestsFor("what survives a crash").length, 2);
  });

  it("an answer half streamed before a SIGKILL is completed by editing the message already sent, never a second one", async () => {
    rig.openai.backend = hangingBackend("The first half of");
    const id = await alice.sendText(room, "AI, stream something long");
    const first = await alice.waitFor((e) => isAnswer(e, id), { roomId: room, timeoutMs: 30_000 });
    assert.match(shownText(alice, room, first), /^The first half/);
    // The first message's id reaches the pending trigger right after the send.
    await sleep(1000);
    rig.openai.backend = scriptedBackend("A **complete** answer after the restart.");
    await rig.core.restart("SIGKILL");
    await alice.waitFor(
      (e) =>
        isEditOf(e, first.event_id!) &&
        (e.content["m.new_content"] as Record<string, unknown>).formatted_body ===
          "<p>A <strong>complete</strong> answer after the restart.</p>",
      { roomId: room, timeoutMs: 60_000 },
    );
    await sleep(4000);
    assert.equal(answersTo(id).length, 1);
    assert.equal(shownText(alice, room, first), "A **complete** answer after the restart.");
    assert.equal(requestsFor("stream something long").length, 2);
  });

  it("a graceful stop mid-answer keeps the trigger: the next start finishes the same message", async () => {
    rig.openai.backend = hangingBackend("Interrupted by");
    const id = await alice.sendText(room, "AI, survive a stop");
    const first = await alice.waitFor((e) => isAnswer(e, id), { roomId: room, timeoutMs: 30_000 });
    rig.openai.backend = scriptedBackend("Finished after the stop.");
    await rig.core.restart("SIGTERM");
    await waitForShown(alice, room, first, "Finished after the stop.", 60_000);
    await sleep(3000);
    assert.equal(answersTo(id).length, 1);
    assert.ok(!alice.eventsIn(room).some((e) => isNoticeFromAi(e, /could not answer/)));
  });

  it("a trigger cut off three times is given up with a notice, not generated forever", async () => {
    rig.openai.backend = hangingBackend();
    const id = await alice.sendText(room, "AI, crash loop question");
    for (let n = 1; n <= 3; n++) {
      await rig.openai.waitFor(() => requestsFor("crash loop question").length >= n, 60_000);
      await rig.core.restart("SIGKILL");
    }
    await alice.waitFor(
      (e) =>
        isNoticeFromAi(e, /interrupted and could not answer/) &&
        (e.content["m.relates_to"] as { "m.in_reply_to"?: { event_id?: string } })?.["m.in_reply_to"]
          ?.event_id === id,
      { roomId: room, timeoutMs: 60_000 },
    );
    await sleep(2000);
    assert.equal(requestsFor("crash loop question").length, 3);
    assert.equal(answersTo(id).length, 0);
  });

  it("transaction ids: a resumed generation's first message is the one the homeserver already has, its edits are new", async () => {
    const api = new MatrixApi(rig.core.rig.synapse.url, rig.core.rig.asToken, RIG_DOMAIN);
    const intent = api.intent(AI);
    const opts = { intent, roomId: room, txnSeed: `$seed-${Date.now()}`, editIntervalMs: 100, maxEdits: 5 };
    // The crash right after the first send, before its id was recorded: the next generation
    // knows no first message.
    const crashed = new StreamingReply({ ...opts });
    crashed.push("Half an");
    await sleep(500);
    await crashed.abandon();
    const resumed = new StreamingReply({ ...opts, attempt: 1 });
    resumed.push("Whole answer.");
    await resumed.finish();
    assert.ok(crashed.firstEventId);
    assert.equal(resumed.firstEventId, crashed.firstEventId);
    const first = await alice.waitFor((e) => e.event_id === crashed.firstEventId, { roomId: room });
    await waitForShown(alice, room, first, "Whole answer.");
    const firsts = alice
      .eventsIn(room)
      .filter((e) => e.sender === AI && ["Half an", "Whole answer."].includes(String(e.content.body)));
    assert.equal(firsts.length, 1);
  });
});

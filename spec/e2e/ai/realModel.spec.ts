import { strict as assert } from "node:assert";
import type { MatrixTestClient } from "../../harness/MatrixTestClient";
import { LlamaBackend } from "../../standins/llm/LlamaBackend";
import { user } from "../core/coreRig";
import { type AiRig, groupWithAi, isAnswer, isEditOf, isNoticeFromAi, startAiRig } from "./aiRig";

/**
 * The real small model (SmolLM2-135M-Instruct) behind both wire formats, the bridge's real
 * openai and ollama clients in front, real Synapse around. Structure is asserted, not wording.
 */
describe("e2e: the AI puppet with a real model (SmolLM2 through both wire formats)", function () {
  this.timeout(240_000);
  let llama: LlamaBackend;
  let rig: AiRig;
  let alice: MatrixTestClient;
  let bob: MatrixTestClient;

  before(async function () {
    this.timeout(240_000);
    [alice, bob] = await Promise.all([user("alice"), user("bob")]);
    llama = await LlamaBackend.load();
    rig = await startAiRig(
      {
        context: { max_events: 20, token_budget: 400, max_answer_tokens: 40 },
        streaming: { edit_interval_ms: 100, max_edits: 50 },
        failover: [],
      },
      { backend: llama.backend, timeoutMs: 120_000 },
    );
  });

  after(async () => {
    await rig?.stop();
    await llama?.dispose();
  });

  for (const provider of ["primary", "backup"]) {
    it(`streams a real answer as one message edited in place (${provider === "primary" ? "OpenAI" : "Ollama"} wire format)`, async () => {
      const r = await groupWithAi(alice, bob, `real model ${provider}`);
      await alice.sendText(r, `!ai provider ${provider}`);
      await alice.waitFor((e) => isNoticeFromAi(e, new RegExp(`Provider set to ${provider}`)), { roomId: r });
      const id = await alice.sendText(r, "AI, what is the capital of France?");
      const first = await alice.waitFor((e) => isAnswer(e, id), { roomId: r, timeoutMs: 180_000 });
      const standin = provider === "primary" ? rig.openai : rig.ollama;
      const req = await standin.waitFor((q) => q.outcome === "answered" && q.chat !== undefined);
      await standin.waitFor((q) => q === req && q.outcome === "answered", 180_000);
      const deadline = Date.now() + 60_000;
      let edits = alice.eventsIn(r).filter((e) => isEditOf(e, first.event_id!));
      while (Date.now() < deadline) {
        const now = alice.eventsIn(r).filter((e) => isEditOf(e, first.event_id!));
        const streamed = req.sent.join("");
        const last = now[now.length - 1];
        edits = now;
        if (
          last &&
          String((last.content["m.new_content"] as { body?: unknown }).body).trim() === streamed.trim()
        )
          break;
        if (!last && String(first.content.body).trim() === streamed.trim()) break;
        await new Promise((res) => setTimeout(res, 250));
      }
      assert.ok(req.sent.length > 1, "the model streamed several chunks");
      assert.ok(edits.length >= 1, "the first message was edited");
      for (const e of edits) {
        assert.deepEqual(e.content["m.relates_to"], { rel_type: "m.replace", event_id: first.event_id });
      }
      const final = edits.length
        ? String((edits[edits.length - 1]!.content["m.new_content"] as { body?: unknown }).body)
        : String(first.content.body);
      assert.ok(final.trim().length > 0, "final text is not empty");
      assert.equal(final.trim(), req.sent.join("").trim(), "the last edit holds the complete answer");
    });
  }
});

import assert from "node:assert/strict";
import { createProvider, type ProviderConfig } from "../../../src/ai/providers";
import { LlamaBackend } from "../../standins/llm/LlamaBackend";
import type { LlmStandin } from "../../standins/llm/LlmStandin";
import { OllamaStandin } from "../../standins/llm/OllamaStandin";
import { OpenAIStandin } from "../../standins/llm/OpenAIStandin";
import { ask, collect, deltas, done, failure, text } from "./providers/helpers";

const MAX_TOKENS = 24;

/**
 * The real small model (SmolLM2-135M-Instruct via node-llama-cpp) behind both wire formats, the
 * real openai and ollama clients in front. Structure is asserted, never wording. Without the
 * model file this fails (LlamaBackend.load says to run scripts/fetch-model.sh); it does not skip.
 */
describe("SmolLM2 through the stand-ins, real openai and ollama clients", function () {
  // Loading takes about a second; generating 24 tokens a few seconds on a busy 2-core machine.
  this.timeout(180_000);
  let llama: LlamaBackend;
  let openai: OpenAIStandin;
  let ollama: OllamaStandin;

  before(async () => {
    llama = await LlamaBackend.load();
    openai = await OpenAIStandin.start({ backend: llama.backend });
    ollama = await OllamaStandin.start({ backend: llama.backend });
  });
  after(async () => {
    await openai?.close();
    await ollama?.close();
    await llama?.dispose();
  });

  const cases: Array<[ProviderConfig["kind"], () => LlmStandin, () => string]> = [
    ["openai", () => openai, () => openai.baseUrl],
    ["ollama", () => ollama, () => ollama.url],
  ];
  for (const [kind, standin, baseUrl] of cases) {
    it(`streams a non-empty reply over the ${kind} wire format`, async () => {
      const provider = createProvider({
        name: `smollm2-${kind}`,
        kind,
        baseUrl: baseUrl(),
        model: "smollm2-135m",
        stream: true,
        timeoutMs: 120_000,
        maxRetries: 0,
      });
      const t0 = Date.now();
      const chunks = await collect(
        provider,
        ask({
          maxTokens: MAX_TOKENS,
          messages: [
            { role: "system", content: "You are a friendly assistant in a chat room. Answer briefly." },
            { role: "user", content: "Hello! What is the capital of France?", name: "Alice" },
          ],
        }),
      );
      const ms = Date.now() - t0;
      const pieces = deltas(chunks);
      assert.ok(pieces.length >= 2, `streamed in ${pieces.length} deltas`);
      assert.ok(text(chunks).trim().length > 0, "the reply has text");
      const end = done(chunks);
      assert.equal(end.provider, `smollm2-${kind}`);
      assert.ok(end.usage && end.usage.promptTokens > 10, `prompt tokens ${end.usage?.promptTokens}`);
      assert.ok(
        end.usage!.completionTokens >= 1 && end.usage!.completionTokens <= MAX_TOKENS,
        `completion tokens ${end.usage?.completionTokens}`,
      );
      assert.ok(end.finishReason === "stop" || end.finishReason === "length", `finish ${end.finishReason}`);
      const rec = standin().chats().at(-1)!;
      assert.equal(rec.outcome, "answered");
      assert.equal(rec.sent.join(""), text(chunks), "what the model generated is what the client got");
      const s = llama.stats;
      // Decode rate: the tokens after the first, over the time after the first (prompt evaluation excluded).
      const decodeMs = (s.lastGenerateMs ?? 0) - (s.lastFirstTokenMs ?? 0);
      const tps = s.lastTokens && decodeMs > 0 ? ((s.lastTokens - 1) / decodeMs) * 1000 : 0;
      console.log(
        `      ${kind}: load ${s.loadMs} ms, first token ${s.lastFirstTokenMs} ms, ` +
          `${s.lastTokens} tokens in ${s.lastGenerateMs} ms (decode ${tps.toFixed(1)} tokens/s), round trip ${ms} ms`,
      );
    });
  }

  it("stops generating when the client cancels, and answers the next request", async () => {
    const provider = createProvider({
      name: "smollm2",
      kind: "openai",
      baseUrl: openai.baseUrl,
      model: "smollm2-135m",
      stream: true,
      timeoutMs: 120_000,
      maxRetries: 0,
    });
    const ac = new AbortController();
    const { error } = await failure(provider, ask({ maxTokens: 400, signal: ac.signal }), (c) => {
      if (c.type === "delta") ac.abort();
    });
    assert.equal(error.code, "aborted");
    const rec = await openai.waitFor((r) => r.outcome === "aborted");
    assert.ok(rec.sent.length < 400);
    const next = await collect(provider, ask({ maxTokens: 8 }));
    assert.ok(text(next).trim().length > 0, "the model answers again after a cancel");
  });

  it("answers concurrent requests one after the other, both complete", async () => {
    const cfg = (kind: ProviderConfig["kind"], baseUrl: string): ProviderConfig => ({
      name: `smollm2-${kind}`,
      kind,
      baseUrl,
      model: "smollm2-135m",
      stream: true,
      timeoutMs: 120_000,
      maxRetries: 0,
    });
    const [a, b] = await Promise.all([
      collect(createProvider(cfg("openai", openai.baseUrl)), ask({ maxTokens: 8 })),
      collect(createProvider(cfg("ollama", ollama.url)), ask({ maxTokens: 8 })),
    ]);
    for (const chunks of [a, b]) {
      assert.ok(text(chunks).trim().length > 0);
      assert.ok(done(chunks).usage!.completionTokens <= 8);
    }
  });
});

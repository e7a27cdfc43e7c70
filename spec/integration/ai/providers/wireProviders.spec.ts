import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { createProvider, type ProviderConfig } from "../../../../src/ai/providers";
import { scriptedBackend } from "../../../standins/llm/backend";
import type { LlmStandin } from "../../../standins/llm/LlmStandin";
import { ask, collect, config, deltas, done, failure, text, WIRES } from "./helpers";

for (const wire of WIRES) {
  describe(`${wire.kind} provider against its stand-in (real ${wire.kind} client)`, function () {
    this.timeout(30_000);
    let standin: LlmStandin;
    const provider = (over: Partial<ProviderConfig> = {}) =>
      createProvider(config({ kind: wire.kind, baseUrl: wire.baseUrl(standin), ...over }));

    beforeEach(async () => {
      standin = await wire.start();
    });
    afterEach(async () => {
      await standin.close();
    });

    it("streams the reply word by word and ends with usage", async () => {
      const chunks = await collect(provider(), ask({ maxTokens: 50 }));
      assert.deepEqual(deltas(chunks), ["Hello", " from", " the", " stand-in", " model."]);
      const end = done(chunks);
      assert.deepEqual(end.usage, { promptTokens: 2, completionTokens: 5 });
      assert.equal(end.finishReason, "stop");
      assert.equal(end.provider, wire.kind);
      assert.equal(end.model, "standin-model");
      assert.equal(standin.chats()[0]!.outcome, "answered");
    });

    it("answers in one delta when the provider does not stream", async () => {
      const chunks = await collect(provider({ stream: false }), ask());
      assert.deepEqual(deltas(chunks), ["Hello from the stand-in model."]);
      assert.deepEqual(done(chunks).usage, { promptTokens: 2, completionTokens: 5 });
      assert.equal((standin.chats()[0]!.body as { stream?: unknown }).stream, false);
    });

    it("falls back to the whole answer when the server ignores stream: true", async () => {
      await standin.close();
      standin = await wire.start({ neverStreams: true });
      const chunks = await collect(provider({ stream: true }), ask());
      assert.deepEqual(deltas(chunks), ["Hello from the stand-in model."]);
      assert.deepEqual(done(chunks).usage, { promptTokens: 2, completionTokens: 5 });
      assert.equal((standin.chats()[0]!.body as { stream?: unknown }).stream, true);
    });

    it("sends the model, messages, token limit and temperature in the wire format", async () => {
      await collect(
        provider(),
        ask({
          model: "room-model",
          maxTokens: 3,
          temperature: 0.25,
          messages: [
            { role: "system", content: "Be brief." },
            { role: "user", content: "Hi", name: "Alice Example" },
          ],
        }),
      );
      const body = standin.chats()[0]!.body as Record<string, unknown>;
      assert.equal(body.model, "room-model");
      if (wire.kind === "openai") {
        assert.deepEqual(body.messages, [
          { role: "system", content: "Be brief." },
          { role: "user", content: "Hi", name: "Alice_Example" },
        ]);
        assert.equal(body.max_tokens, 3);
        assert.equal(body.temperature, 0.25);
        assert.equal(body.stream, true);
        assert.deepEqual(body.stream_options, { include_usage: true });
      } else {
        assert.deepEqual(body.messages, [
          { role: "system", content: "Be brief." },
          { role: "user", content: "Hi" },
        ]);
        assert.deepEqual(body.options, { num_predict: 3, temperature: 0.25 });
        assert.equal(body.stream, true);
      }
    });

    it("stops at maxTokens and reports why", async () => {
      const chunks = await collect(provider(), ask({ maxTokens: 2 }));
      assert.equal(text(chunks), "Hello from");
      assert.equal(done(chunks).finishReason, "length");
    });

    it("retries a 429 itself (maxRetries) and then answers", async () => {
      standin.failNext(1, 429, undefined, { retryAfter: 0 });
      const chunks = await collect(provider({ maxRetries: 1 }), ask());
      assert.equal(text(chunks), "Hello from the stand-in model.");
      assert.deepEqual(
        standin.chats().map((r) => r.status),
        [429, 200],
      );
    });

    it("a 429 past the retries is a retryable rate-limit error", async () => {
      standin.failNext(2, 429, undefined, { retryAfter: 0 });
      const { error } = await failure(provider({ maxRetries: 1 }), ask());
      assert.equal(error.code, "rate_limited");
      assert.equal(error.status, 429);
      assert.equal(error.retryable, true);
      assert.equal(error.provider, wire.kind);
      assert.equal(standin.chats().length, 2);
    });

    it("a 500 is a retryable server error", async () => {
      standin.failNext(1, 500);
      const { error } = await failure(provider(), ask());
      assert.equal(error.code, "server");
      assert.equal(error.status, 500);
      assert.equal(error.retryable, true);
      assert.match(error.message, /server error \(HTTP 500\)/);
    });

    it("sends the API key as a bearer token", async () => {
      await standin.close();
      const key = `k-${randomBytes(12).toString("hex")}`;
      standin = await wire.start({ apiKey: key });
      const chunks = await collect(provider({ apiKey: key }), ask());
      assert.ok(text(chunks).length > 0);
      assert.equal(standin.chats()[0]!.headers.authorization, `Bearer ${key}`);
    });

    it("a 401 says the API key is wrong and never shows it", async () => {
      await standin.close();
      standin = await wire.start({ apiKey: `right-${randomBytes(12).toString("hex")}` });
      const wrong = `wrong-${randomBytes(12).toString("hex")}`;
      const { error } = await failure(provider({ apiKey: wrong, maxRetries: 2 }), ask());
      assert.equal(error.code, "auth");
      assert.equal(error.status, 401);
      assert.equal(error.retryable, false);
      assert.match(error.message, /API key was refused/);
      assert.ok(!error.message.includes(wrong));
      assert.equal(standin.chats().length, 1, "a refused key is not retried");
    });

    it("a 404 for the model names the model", async () => {
      await standin.close();
      standin = await wire.start({ models: ["known-model"] });
      const { error } = await failure(provider(), ask({ model: "missing-model" }));
      assert.equal(error.code, "model_not_found");
      assert.equal(error.status, 404);
      assert.match(error.message, /model "missing-model" not found/);
    });

    it("times out when the first token does not come, and drops the request", async () => {
      standin.delayFirstToken(20_000);
      const { error, before, ms } = await failure(provider({ timeoutMs: 400 }), ask());
      assert.equal(error.code, "timeout");
      assert.equal(error.retryable, true);
      assert.match(error.message, /no answer within 0\.4 s/);
      assert.equal(before.length, 0);
      assert.ok(ms < 10_000, `gave up after ${ms} ms`);
      await standin.waitFor((r) => r.outcome === "aborted");
    });

    it("times out when the answer stalls between tokens", async () => {
      standin.backend = scriptedBackend("one two three", 20_000);
      const { error, before } = await failure(provider({ timeoutMs: 400 }), ask());
      assert.equal(error.code, "timeout");
      assert.match(error.message, /stalled within 0\.4 s/);
      assert.deepEqual(deltas(before), ["one"]);
      await standin.waitFor((r) => r.outcome === "aborted");
    });

    it("times out on a server that accepts and never answers", async () => {
      standin.hangNext(1);
      const { error, ms } = await failure(provider({ timeoutMs: 400 }), ask());
      assert.equal(error.code, "timeout");
      assert.ok(ms < 10_000, `gave up after ${ms} ms`);
      assert.equal(standin.chats().length, 1);
      await standin.waitFor((r) => r.outcome === "aborted");
    });

    it("retries a hung request (maxRetries) and then answers", async () => {
      standin.hangNext(1);
      // Long enough that the retry's answer is never late on a busy machine.
      const chunks = await collect(provider({ timeoutMs: 1500, maxRetries: 1 }), ask());
      assert.equal(text(chunks), "Hello from the stand-in model.");
      assert.deepEqual(
        standin.chats().map((r) => r.outcome),
        ["aborted", "answered"],
      );
    });

    it("an abort signal cancels mid-stream and closes the request", async () => {
      standin.backend = scriptedBackend("a b c d e f g h i j k l m n o p", 200);
      const ac = new AbortController();
      const { error, before } = await failure(provider(), ask({ signal: ac.signal }), (c) => {
        if (c.type === "delta") ac.abort();
      });
      assert.equal(error.code, "aborted");
      assert.equal(error.retryable, false);
      assert.deepEqual(deltas(before), ["a"]);
      const rec = await standin.waitFor((r) => r.outcome === "aborted");
      assert.ok(rec.sent.length < 16, "the stand-in stopped sending");
    });

    it("a consumer that stops reading early closes the request", async () => {
      standin.backend = scriptedBackend("a b c d e f g h i j k l m n o p", 100);
      for await (const c of provider().stream(ask())) {
        if (c.type === "delta") break;
      }
      const rec = await standin.waitFor((r) => r.outcome === "aborted");
      assert.ok(rec.sent.length < 16, "the stand-in stopped sending");
    });

    it("an abort while waiting for the first token cancels at once", async () => {
      standin.delayFirstToken(20_000);
      const ac = new AbortController();
      setTimeout(() => ac.abort(), 200);
      const { error, ms } = await failure(provider(), ask({ signal: ac.signal }));
      assert.equal(error.code, "aborted");
      assert.ok(ms < 5_000, `cancelled after ${ms} ms`);
    });

    it("times out a non-streaming answer that does not come", async () => {
      standin.delayFirstToken(20_000);
      const { error, ms } = await failure(provider({ stream: false, timeoutMs: 400 }), ask());
      assert.equal(error.code, "timeout");
      assert.ok(ms < 10_000, `gave up after ${ms} ms`);
    });

    it("times out a non-streaming request that is never answered", async () => {
      standin.hangNext(1);
      const { error, ms } = await failure(provider({ stream: false, timeoutMs: 400 }), ask());
      assert.equal(error.code, "timeout");
      assert.ok(ms < 10_000, `gave up after ${ms} ms`);
      await standin.waitFor((r) => r.outcome === "aborted");
    });

    it("a connection that breaks mid-answer is an error after the deltas already given", async () => {
      standin.breakNext(1, 2);
      const { error, before } = await failure(provider({ maxRetries: 2 }), ask());
      assert.deepEqual(deltas(before), ["Hello", " from"]);
      assert.equal(error.code, "network");
      assert.match(error.message, /connection broke during the answer/);
      assert.equal(standin.chats().length, 1, "output had started: no retry");
      assert.equal(standin.chats()[0]!.outcome, "broken");
    });

    it("lists the server's models", async () => {
      await standin.close();
      standin = await wire.start({ models: ["alpha", "beta"] });
      assert.deepEqual(await provider().listModels!(), ["alpha", "beta"]);
    });

    it("an unreachable server is a retryable network error naming the address", async () => {
      const url = wire.baseUrl(standin);
      await standin.close();
      const { error } = await failure(provider({ baseUrl: url }), ask());
      assert.equal(error.code, "network");
      assert.equal(error.retryable, true);
      assert.ok(error.message.includes(url), error.message);
    });
  });
}

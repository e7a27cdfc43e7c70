import assert from "node:assert/strict";
import { createFailover, createProvider, FailoverProvider } from "../../../../src/ai/providers";
import { scriptedBackend } from "../../../standins/llm/backend";
import { OllamaStandin } from "../../../standins/llm/OllamaStandin";
import { OpenAIStandin } from "../../../standins/llm/OpenAIStandin";
import { ask, collect, config, deltas, done, failure, text } from "./helpers";

/** Collects what the process writes to stderr (where the loggers write) while `fn` runs. */
async function captureLog<T>(fn: () => Promise<T>): Promise<{ result: T; log: string }> {
  const lines: string[] = [];
  const original = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    lines.push(typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8"));
    return (original as (...a: unknown[]) => boolean)(chunk, ...rest);
  }) as typeof process.stderr.write;
  try {
    const result = await fn();
    return { result, log: lines.join("") };
  } finally {
    process.stderr.write = original;
  }
}

describe("FailoverProvider over an OpenAI and an Ollama stand-in (real clients)", function () {
  this.timeout(30_000);
  let primary: OpenAIStandin;
  let secondary: OllamaStandin;
  const list = (over: { timeoutMs?: number; maxRetries?: number } = {}) =>
    createFailover([
      config({ name: "primary", kind: "openai", baseUrl: primary.baseUrl, model: "big-model", ...over }),
      // The backup keeps generous limits: only the primary's failures are under test.
      config({ name: "backup", kind: "ollama", baseUrl: secondary.url, model: "small-model" }),
    ]);

  beforeEach(async () => {
    primary = await OpenAIStandin.start();
    secondary = await OllamaStandin.start();
    secondary.backend = scriptedBackend("backup answer");
  });
  afterEach(async () => {
    await primary.close();
    await secondary.close();
  });

  it("uses the first provider while it answers", async () => {
    const chunks = await collect(list(), ask());
    assert.equal(text(chunks), "Hello from the stand-in model.");
    assert.equal(done(chunks).provider, "primary");
    assert.equal(secondary.requests.length, 0);
  });

  it("on a 429 after the provider's own retries, hands over to the next and logs it by name", async () => {
    primary.failNext(2, 429, undefined, { retryAfter: 0 });
    const { result: chunks, log } = await captureLog(() => collect(list({ maxRetries: 1 }), ask()));
    assert.equal(primary.chats().length, 2, "the openai client retried once first");
    assert.equal(text(chunks), "backup answer");
    assert.equal(done(chunks).provider, "backup");
    assert.match(log, /provider failed, trying the next/);
    assert.match(log, /"provider":"primary"/);
    assert.match(log, /"next":"backup"/);
    assert.match(log, /rate limited \(HTTP 429\)/);
  });

  it("gives the request's model to the first provider and each later one its own default", async () => {
    primary.failNext(1, 500);
    await collect(list(), ask({ model: "room-model" }));
    assert.equal((primary.chats()[0]!.body as { model: string }).model, "room-model");
    assert.equal((secondary.chats()[0]!.body as { model: string }).model, "small-model");
  });

  it("passes the request's model to every provider with requestModel: all", async () => {
    primary.failNext(1, 500);
    const p = new FailoverProvider(
      [
        createProvider(config({ name: "primary", kind: "openai", baseUrl: primary.baseUrl })),
        createProvider(config({ name: "backup", kind: "ollama", baseUrl: secondary.url })),
      ],
      { requestModel: "all" },
    );
    await collect(p, ask({ model: "room-model" }));
    assert.equal((secondary.chats()[0]!.body as { model: string }).model, "room-model");
  });

  it("moves on when the first provider hangs past its timeout", async () => {
    primary.hangNext(1);
    const chunks = await collect(list({ timeoutMs: 500 }), ask());
    assert.equal(text(chunks), "backup answer");
    await primary.waitFor((r) => r.outcome === "aborted");
  });

  it("moves on when the first token does not come in time", async () => {
    primary.delayFirstToken(20_000);
    const chunks = await collect(list({ timeoutMs: 500 }), ask());
    assert.equal(text(chunks), "backup answer");
  });

  it("moves on from a refused key (401) too", async () => {
    primary.failNext(1, 401);
    const chunks = await collect(list(), ask());
    assert.equal(done(chunks).provider, "backup");
  });

  it("throws an error that comes after output started, without trying the next", async () => {
    primary.backend = scriptedBackend("first second third", 20_000);
    const { error, before } = await failure(list({ timeoutMs: 500 }), ask());
    assert.deepEqual(deltas(before), ["first"]);
    assert.equal(error.code, "timeout");
    assert.equal(error.provider, "primary");
    assert.equal(secondary.requests.length, 0);
  });

  it("throws a connection that broke mid-answer, without trying the next", async () => {
    primary.breakNext(1, 1);
    const { error, before } = await failure(list(), ask());
    assert.deepEqual(deltas(before), ["Hello"]);
    assert.equal(error.code, "network");
    assert.equal(secondary.requests.length, 0);
  });

  it("when every provider fails, says what each one said", async () => {
    primary.failNext(1, 500);
    secondary.failNext(1, 429, undefined, { retryAfter: 0 });
    const { error } = await failure(list(), ask());
    assert.equal(error.code, "all_failed");
    assert.equal(error.retryable, true);
    assert.match(error.message, /primary: server error \(HTTP 500\)/);
    assert.match(error.message, /backup: rate limited \(HTTP 429\)/);
    assert.ok(error.cause instanceof AggregateError);
  });

  it("an abort stops at once and does not fail over", async () => {
    primary.delayFirstToken(20_000);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 200);
    const { error, ms } = await failure(list(), ask({ signal: ac.signal }));
    assert.equal(error.code, "aborted");
    assert.ok(ms < 5_000, `cancelled after ${ms} ms`);
    assert.equal(secondary.requests.length, 0);
  });

  it("a list of one is that provider", () => {
    const one = createFailover([config({ name: "only", kind: "ollama", baseUrl: secondary.url })]);
    assert.equal(one.name, "only");
    assert.ok(!(one instanceof FailoverProvider));
  });
});

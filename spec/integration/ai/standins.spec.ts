import assert from "node:assert/strict";
import { Ollama } from "ollama";
import OpenAI from "openai";
import { echoBackend, scriptedBackend, wordChunks } from "../../standins/llm/backend";
import { OllamaStandin } from "../../standins/llm/OllamaStandin";
import { OpenAIStandin } from "../../standins/llm/OpenAIStandin";

describe("model stand-ins: driver API and wire details", function () {
  this.timeout(30_000);

  it("splits scripted replies into word chunks that keep their spacing", () => {
    assert.deepEqual(wordChunks("Hi  there,\nyou"), ["Hi", "  there,", "\nyou"]);
    assert.deepEqual(wordChunks(""), []);
  });

  describe("OpenAIStandin", () => {
    let s: OpenAIStandin;
    beforeEach(async () => {
      s = await OpenAIStandin.start({ models: ["m-one", "m-two"] });
    });
    afterEach(() => s.close());

    it("lists its models to the real client", async () => {
      const client = new OpenAI({ apiKey: "unused", baseURL: s.baseUrl, maxRetries: 0 });
      const ids: string[] = [];
      for await (const m of client.models.list()) ids.push(m.id);
      assert.deepEqual(ids, ["m-one", "m-two"]);
      const rec = await s.waitFor((r) => r.path === "/v1/models");
      assert.equal(rec.outcome, "answered");
      assert.equal(s.chats().length, 0);
    });

    it("streams raw SSE: role first, content deltas, finish, usage chunk, [DONE]", async () => {
      s.backend = scriptedBackend("one two");
      const res = await fetch(`${s.baseUrl}/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          model: "m-one",
          messages: [{ role: "user", content: "x" }],
          stream: true,
          stream_options: { include_usage: true },
        }),
      });
      assert.equal(res.headers.get("content-type"), "text/event-stream");
      const events = (await res.text()).split("\n\n").filter(Boolean);
      assert.equal(events.at(-1), "data: [DONE]");
      const json = events.slice(0, -1).map((e) => JSON.parse(e.replace(/^data: /, "")));
      assert.deepEqual(json[0].choices[0].delta, { role: "assistant", content: "one" });
      assert.deepEqual(json[1].choices[0].delta, { content: " two" });
      assert.equal(json[2].choices[0].finish_reason, "stop");
      assert.deepEqual(json[3].choices, []);
      assert.deepEqual(json[3].usage, { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 });
      const rec = s.chats()[0]!;
      assert.deepEqual(rec.sent, ["one", " two"]);
      assert.equal(rec.sentAt.length, 2);
      assert.ok(rec.sentAt[0]! >= rec.time && rec.sentAt[1]! >= rec.sentAt[0]!);
    });

    it("sends no usage chunk unless asked", async () => {
      const res = await fetch(`${s.baseUrl}/chat/completions`, {
        method: "POST",
        body: JSON.stringify({ model: "m-one", messages: [{ role: "user", content: "x" }], stream: true }),
      });
      assert.ok(!(await res.text()).includes("usage"));
    });

    it("answers failNext in order, then normally, recording each outcome", async () => {
      s.failNext(1, 429, undefined, { retryAfter: 7 });
      s.failNext(1, 500, { error: { message: "custom" } });
      const post = () =>
        fetch(`${s.baseUrl}/chat/completions`, {
          method: "POST",
          body: JSON.stringify({ model: "m-one", messages: [{ role: "user", content: "x" }] }),
        });
      const r1 = await post();
      assert.equal(r1.status, 429);
      assert.equal(r1.headers.get("retry-after"), "7");
      assert.equal(((await r1.json()) as { error: { type: string } }).error.type, "rate_limit_error");
      const r2 = await post();
      assert.deepEqual(await r2.json(), { error: { message: "custom" } });
      const r3 = await post();
      assert.equal(r3.status, 200);
      assert.deepEqual(
        s.chats().map((r) => [r.status, r.outcome]),
        [
          [429, "failed"],
          [500, "failed"],
          [200, "answered"],
        ],
      );
    });

    it("rejects waitFor when nothing matches in time, saying so", async () => {
      await assert.rejects(
        s.waitFor(() => false, 100),
        /openai stand-in waitFor: no matching request within 100 ms/,
      );
    });

    it("close() ends hung requests", async () => {
      s.hangNext(1);
      const pending = fetch(`${s.baseUrl}/chat/completions`, {
        method: "POST",
        body: JSON.stringify({ model: "m-one", messages: [{ role: "user", content: "x" }] }),
      }).then(
        () => "answered",
        () => "dropped",
      );
      await s.waitFor((r) => r.outcome === "hung");
      await s.close();
      assert.equal(await pending, "dropped");
    });
  });

  describe("OllamaStandin", () => {
    let s: OllamaStandin;
    beforeEach(async () => {
      s = await OllamaStandin.start({ models: ["tiny:latest"] });
    });
    afterEach(() => s.close());

    it("lists its models and version to the real client", async () => {
      const client = new Ollama({ host: s.url });
      const list = await client.list();
      assert.deepEqual(
        list.models.map((m) => m.name),
        ["tiny:latest"],
      );
      assert.match((await client.version()).version, /standin/);
    });

    it("streams NDJSON by default (no stream field), the last line done with counts", async () => {
      s.backend = echoBackend("said:");
      const res = await fetch(`${s.url}/api/chat`, {
        method: "POST",
        body: JSON.stringify({ model: "tiny:latest", messages: [{ role: "user", content: "ping pong" }] }),
      });
      assert.equal(res.headers.get("content-type"), "application/x-ndjson");
      const lines = (await res.text())
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l));
      assert.deepEqual(
        lines.slice(0, -1).map((l) => [l.message.content, l.done]),
        [
          ["said:", false],
          [" ping", false],
          [" pong", false],
        ],
      );
      const last = lines.at(-1);
      assert.equal(last.done, true);
      assert.equal(last.done_reason, "stop");
      assert.equal(last.prompt_eval_count, 2);
      assert.equal(last.eval_count, 3);
    });

    it("answers an unknown model with Ollama's 404 error shape", async () => {
      const res = await fetch(`${s.url}/api/chat`, {
        method: "POST",
        body: JSON.stringify({ model: "nope", messages: [] }),
      });
      assert.equal(res.status, 404);
      assert.deepEqual(await res.json(), { error: 'model "nope" not found' });
    });
  });
});

import assert from "node:assert/strict";
import { createProvider, type ProviderConfig, providerConfigProblems } from "../../../../src/ai/providers";
import { httpError, networkError, timeoutError } from "../../../../src/ai/providers/errors";
import { retryDelayMs } from "../../../../src/ai/providers/retry";

describe("provider error texts", () => {
  it("maps each HTTP status to a code, retryability and a human text", () => {
    const cases: Array<[number, string, boolean, RegExp]> = [
      [401, "auth", false, /^p: the API key was refused \(HTTP 401\)/],
      [403, "auth", false, /API key was refused \(HTTP 403\)/],
      [404, "model_not_found", false, /^p: model "m1" not found \(HTTP 404\)/],
      [429, "rate_limited", true, /^p: rate limited \(HTTP 429\): slow down$/],
      [408, "server", true, /server error \(HTTP 408\)/],
      [503, "server", true, /^p: server error \(HTTP 503\): slow down$/],
      [400, "bad_request", false, /^p: request refused \(HTTP 400\): slow down$/],
    ];
    for (const [status, code, retryable, text] of cases) {
      const e = httpError("p", status, "slow down", "m1");
      assert.equal(e.code, code, `code for ${status}`);
      assert.equal(e.retryable, retryable, `retryable for ${status}`);
      assert.equal(e.status, status);
      assert.equal(e.provider, "p");
      assert.match(e.message, text);
    }
  });

  it("never repeats what a server said on a 401 and clips long server texts", () => {
    const echoed = "Incorrect API key provided: sk-live-abcdef123456";
    assert.ok(!httpError("p", 401, echoed, "m").message.includes("sk-live"));
    const long = httpError("p", 400, "x".repeat(1000), "m").message;
    assert.ok(long.length < 220, `clipped to ${long.length}`);
    assert.ok(long.endsWith("…"));
  });

  it("redacts bearer tokens a server echoes", () => {
    const e = httpError("p", 500, "upstream said Authorization: Bearer abc.def-ghi_jkl", "m");
    assert.ok(!e.message.includes("abc.def-ghi_jkl"), e.message);
  });

  it("names the socket error of an unreachable server", () => {
    const cause = new TypeError("fetch failed", {
      cause: Object.assign(new Error("connect"), { code: "ECONNREFUSED" }),
    });
    const e = networkError("p", "http://127.0.0.1:9/v1", cause);
    assert.equal(e.message, "p: cannot reach http://127.0.0.1:9/v1 (ECONNREFUSED)");
    assert.equal(e.code, "network");
    assert.equal(e.cause, cause);
  });

  it("says the innermost reason when there is no socket error code", () => {
    const cause = new TypeError("fetch failed", { cause: new Error("bad port") });
    assert.equal(
      networkError("p", "http://127.0.0.1:9/v1", cause).message,
      "p: cannot reach http://127.0.0.1:9/v1 (bad port)",
    );
  });

  it("drops credentials from the address it names", () => {
    const e = networkError("p", "https://user:hunter2secret@llm.example/v1?key=abc123secret", new Error("x"));
    assert.ok(!e.message.includes("hunter2secret") && !e.message.includes("abc123secret"), e.message);
    assert.match(e.message, /cannot reach https:\/\/llm\.example\/v1/);
  });

  it("says whether the first token or a later one was late", () => {
    assert.equal(timeoutError("p", 30_000, true).message, "p: no answer within 30 s");
    assert.equal(timeoutError("p", 1500, false).message, "p: the answer stalled within 1.5 s");
  });
});

describe("retry delays", () => {
  it("follow a sane Retry-After in seconds or as a date", () => {
    assert.equal(retryDelayMs(0, "2"), 2000);
    assert.equal(retryDelayMs(3, "0"), 0);
    const inTwo = new Date(Date.now() + 2000).toUTCString();
    const ms = retryDelayMs(0, inTwo);
    assert.ok(ms > 0 && ms <= 2000, `date gives ${ms}`);
  });

  it("back off exponentially (with jitter, capped) otherwise or when Retry-After is absurd", () => {
    for (const [attempt, hi] of [
      [0, 500],
      [1, 1000],
      [2, 2000],
      [10, 8000],
    ] as const) {
      const ms = retryDelayMs(attempt, attempt === 10 ? "3600" : undefined);
      assert.ok(ms <= hi && ms >= hi * 0.75, `attempt ${attempt}: ${ms}`);
    }
  });
});

describe("provider config checks", () => {
  const good: ProviderConfig = {
    name: "local",
    kind: "ollama",
    baseUrl: "http://127.0.0.1:11434",
    model: "llama3",
    stream: true,
    timeoutMs: 30_000,
    maxRetries: 2,
  };

  it("accept a complete entry", () => {
    assert.deepEqual(providerConfigProblems(good), []);
    assert.equal(createProvider(good).kind, "ollama");
  });

  it("name each wrong key and its fix", () => {
    const bad = { ...good, kind: "claude", baseUrl: "not a url", model: "", timeoutMs: 0, maxRetries: -1 };
    const problems = providerConfigProblems(bad as unknown as ProviderConfig, "ai.providers[1]");
    assert.deepEqual(
      problems.map((p) => p.split(":")[0]),
      [
        "ai.providers[1].kind",
        "ai.providers[1].baseUrl",
        "ai.providers[1].model",
        "ai.providers[1].timeoutMs",
        "ai.providers[1].maxRetries",
      ],
    );
    assert.throws(() => createProvider({ ...good, baseUrl: "ftp://x" }), /provider local\.baseUrl: use http/);
  });
});

import { strict as assert } from "node:assert";
import { aiConfigProblems } from "../../../src/ai/config";
import { makeRedactor } from "../../../src/ai/redact";
import { configFromObject } from "../../../src/config/Config";

describe("ai: pattern redaction", () => {
  it("e-mail, phone numbers and custom patterns; ids and short numbers stay", () => {
    const r = makeRedactor({ email: true, phone: true, patterns: ["ACME-\\d+"] });
    assert.equal(r("write to bob.smith+x@mail.example.com"), "write to [email]");
    assert.equal(r("call 555-123-4567 or (030) 1234 5678"), "call [phone] or [phone]");
    assert.equal(r("ticket ACME-42 costs 12 euros on 2026"), "ticket [redacted] costs 12 euros on 2026");
  });

  it("does nothing when nothing is configured", () => {
    const r = makeRedactor({ email: false, phone: false, patterns: [] });
    assert.equal(r("a@b.org 555-123-4567"), "a@b.org 555-123-4567");
  });

  it("config: bad patterns and unknown provider names are named with the fix", () => {
    assert.throws(
      () =>
        configFromObject({
          homeserver: { url: "http://127.0.0.1:8008", domain: "localhost" },
          ai: {
            providers: { local: { kind: "ollama", base_url: "http://127.0.0.1:11434", model: "m" } },
            default_provider: "remote",
            failover: ["local", "nope"],
            redact: { patterns: ["(unclosed"] },
          },
        }),
      (err: Error) =>
        /ai\.default_provider: 'remote' is not in ai\.providers \(local\)/.test(err.message) &&
        /ai\.failover\[1\]: 'nope'/.test(err.message) &&
        /ai\.redact\.patterns\[0\]: not a valid regular expression/.test(err.message),
    );
    const ok = configFromObject({ homeserver: { url: "http://127.0.0.1:8008", domain: "localhost" } });
    assert.deepEqual(aiConfigProblems(ok.ai), []);
  });
});

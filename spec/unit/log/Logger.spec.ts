import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { redact, registerSecret } from "../../../src/log/Logger";

describe("log redaction", () => {
  it("replaces registered secrets wherever they appear", () => {
    const secret = randomBytes(16).toString("hex");
    registerSecret(secret);
    assert.equal(redact(`token is ${secret}, again ${secret}`), "token is <redacted>, again <redacted>");
  });

  it("masks token-shaped values even when never registered", () => {
    const t = randomBytes(12).toString("hex");
    assert.equal(redact(`GET /sync?access_token=${t}&x=1`), "GET /sync?access_token=<redacted>&x=1");
    assert.equal(redact(`Authorization: Bearer ${t}`), "Authorization: Bearer <redacted>");
    assert.equal(redact(`{"as_token":"${t}"}`), `{"as_token":"<redacted>"}`);
    // Other tests may register common words as secrets; what matters is that the value goes.
    assert.ok(!redact(`password=${t}`).includes(t));
    assert.equal(
      redact(`https://api.example/bot123456:${t}/getMe`),
      "https://api.example/bot<redacted>/getMe",
    );
  });

  it("leaves ordinary text alone", () => {
    assert.equal(redact("portal created for chat 42"), "portal created for chat 42");
  });
});

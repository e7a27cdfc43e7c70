import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { MediaSigner, parseMxc } from "../../../src/http/MediaSigner";

describe("MediaSigner", () => {
  const token = randomBytes(32).toString("hex");
  const signer = new MediaSigner(token);

  it("signs deterministically, URL-safe, also across instances with the same as_token", () => {
    const sig = signer.sign("example.org", "AbC_123-x");
    assert.match(sig, /^[A-Za-z0-9_-]{22}$/);
    assert.equal(new MediaSigner(token).sign("example.org", "AbC_123-x"), sig);
    assert.ok(signer.verify("example.org", "AbC_123-x", sig));
  });

  it("gives other media, other servers and other as_tokens unrelated signatures", () => {
    const sig = signer.sign("example.org", "media1");
    assert.notEqual(signer.sign("example.org", "media2"), sig);
    assert.notEqual(signer.sign("example.com", "media1"), sig);
    // "a/bc" vs "ab/c": the separator keeps server and id apart.
    assert.notEqual(signer.sign("a", "bc"), signer.sign("ab", "c"));
    assert.notEqual(new MediaSigner(randomBytes(32).toString("hex")).sign("example.org", "media1"), sig);
    assert.equal(signer.verify("example.org", "media2", sig), false);
    assert.equal(signer.verify("example.com", "media1", sig), false);
  });

  it("refuses tampered, truncated, padded, empty and non-base64url signatures", () => {
    const sig = signer.sign("example.org", "media1");
    const flipped = (sig[0] === "A" ? "B" : "A") + sig.slice(1);
    for (const bad of [
      flipped,
      sig.slice(0, -1),
      `${sig}A`,
      `${sig}=`,
      "",
      "!".repeat(22),
      sig.toLowerCase(),
    ]) {
      if (bad === sig) continue;
      assert.equal(signer.verify("example.org", "media1", bad), false, `accepted ${JSON.stringify(bad)}`);
    }
  });

  it("needs an as_token", () => {
    assert.throws(() => new MediaSigner(""), /as_token/);
  });

  it("parses only valid mxc URIs", () => {
    assert.deepEqual(parseMxc("mxc://example.org:8448/AbC_1-2"), {
      server: "example.org:8448",
      mediaId: "AbC_1-2",
    });
    assert.deepEqual(parseMxc("mxc://[::1]/x"), { server: "[::1]", mediaId: "x" });
    for (const bad of [
      "https://example.org/x",
      "mxc://example.org/",
      "mxc://example.org/a/b",
      "mxc://ex ample/x",
      "mxc://example.org/a.b",
      "mxc:///x",
    ]) {
      assert.equal(parseMxc(bad), undefined, bad);
    }
  });
});

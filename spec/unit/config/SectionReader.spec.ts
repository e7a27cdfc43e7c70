import assert from "node:assert/strict";
import { SectionReader } from "../../../src/config/SectionReader";

describe("SectionReader", () => {
  const r = new SectionReader(
    { name: "x", empty: "", n: 2.5, i: 3, flag: true, bad: 7, url: "http://127.0.0.1:9/api//" },
    "platforms.demo",
  );

  it("reads strings with defaults and required keys, naming the key on a bad value", () => {
    assert.equal(r.str("name"), "x");
    assert.equal(r.str("empty", false, "d"), "d");
    assert.equal(r.str("missing", false, "d"), "d");
    assert.throws(() => r.str("missing", true), /^Error: platforms\.demo\.missing is required$/);
    assert.throws(() => r.str("bad"), /platforms\.demo\.bad must be a string/);
  });

  it("reads numbers, whole numbers and booleans with their minimums", () => {
    assert.equal(r.num("n", 1, 0), 2.5);
    assert.equal(r.num("missing", 1, 0), 1);
    assert.throws(() => r.num("n", 1, 3), /platforms\.demo\.n must be a number >= 3/);
    assert.equal(r.int("i", 1, 0), 3);
    assert.throws(() => r.int("n", 1, 0), /platforms\.demo\.n must be a whole number >= 0/);
    assert.equal(r.bool("flag", false), true);
    assert.equal(r.bool("missing", true), true);
    assert.throws(() => r.bool("name", false), /platforms\.demo\.name must be true or false/);
  });

  it("reads http(s) URLs without trailing slashes", () => {
    assert.equal(r.httpUrl("url", "https://example.org"), "http://127.0.0.1:9/api");
    assert.equal(r.httpUrl("missing", "https://example.org/"), "https://example.org");
    assert.throws(
      () => r.httpUrl("name", "https://example.org"),
      /platforms\.demo\.name must be an http\(s\) URL/,
    );
  });
});

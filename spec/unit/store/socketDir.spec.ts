import assert from "node:assert/strict";
import fc from "fast-check";
import { socketDirFor } from "../../../src/store/embeddedCluster";
import { fuzzParams } from "../../harness/fuzz";

describe("socketDirFor: where the embedded PostgreSQL's unix socket goes", () => {
  it("uses the data directory when the socket's path fits and the name can stand in PostgreSQL's list", () => {
    assert.equal(socketDirFor("/var/lib/clawbridge/postgres"), "/var/lib/clawbridge/postgres");
    assert.equal(socketDirFor(`/${"d".repeat(80)}`), `/${"d".repeat(80)}`);
    assert.equal(socketDirFor(`/${"d".repeat(90)}`), undefined, "too long for a socket path");
    assert.equal(socketDirFor(`/${"é".repeat(45)}`), undefined, "bytes count, not characters");
    for (const odd of ["/a,b/postgres", '/a"b/postgres', "/a b/postgres", "/a'b/x", "/a\\b/x", "/a\nb/x"])
      assert.equal(socketDirFor(odd), undefined, JSON.stringify(odd));
  });

  it("never gives a directory whose socket path is over 100 bytes or holds a separator (fuzzed)", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 120 }), (name) => {
        const dir = socketDirFor(`/${name}`);
        if (dir === undefined) return;
        assert.ok(Buffer.byteLength(`${dir}/.s.PGSQL.65535`) <= 100);
        assert.doesNotMatch(dir, /[,"'\\\s]/);
      }),
      fuzzParams(300),
    );
  });
});

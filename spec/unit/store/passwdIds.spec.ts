import { strict as assert } from "node:assert";
import { passwdIds } from "../../../src/store/embeddedCluster";

describe("embedded PostgreSQL: the postgres user's ids from /etc/passwd", () => {
  const passwd = [
    "root:x:0:0:root:/root:/bin/bash",
    "postgresql:x:998:998::/home/postgresql:/bin/sh",
    "postgres:x:105:110:PostgreSQL administrator,,,:/var/lib/postgresql:/bin/bash",
    "",
  ].join("\n");

  it("reads the uid and primary gid of its line, not of a longer name sharing the prefix", () => {
    assert.deepEqual(passwdIds(passwd, "postgres"), { uid: 105, gid: 110 });
    assert.deepEqual(passwdIds(passwd, "root"), { uid: 0, gid: 0 });
  });

  it("finds nothing for a missing user or a malformed line (then `id` is asked)", () => {
    assert.equal(passwdIds(passwd, "nobody"), undefined);
    assert.equal(passwdIds("postgres:x::110::/:/bin/sh", "postgres"), undefined);
    assert.equal(passwdIds("postgres:x:-1:110::/:/bin/sh", "postgres"), undefined);
    assert.equal(passwdIds("postgres", "postgres"), undefined);
    assert.equal(passwdIds("", "postgres"), undefined);
  });
});

import assert from "node:assert/strict";
import { BridgeError } from "../../src/core/errors";
import { failureText } from "../../src/failureText";
import { MatrixError } from "../../src/matrix/MatrixApi";

describe("failureText (the one line a failed command prints)", () => {
  it("prints a BridgeError's text for people", () => {
    assert.equal(failureText(new BridgeError("do this", new Error("internal"))), "do this");
  });

  it("says what to do when the homeserver does not know the as_token", () => {
    const text = failureText(
      new MatrixError("GET /x: 401 M_UNKNOWN_TOKEN Unknown access token", 401, "M_UNKNOWN_TOKEN"),
    );
    assert.match(text, /does not know the bridge's as_token .*app_service_config_files.*restart it/);
  });

  it("says the homeserver stopped answering for a network failure", () => {
    const text = failureText(new MatrixError("GET /x: homeserver unreachable (ECONNREFUSED)", 0));
    assert.match(
      text,
      /^the homeserver stopped answering \(GET \/x: homeserver unreachable \(ECONNREFUSED\)\): check/,
    );
  });

  it("keeps only the first line of any other error, never a stack", () => {
    const err = new Error("data dir not reachable: chmod o+x\n    at somewhere (file.ts:1:2)");
    assert.equal(failureText(err), "data dir not reachable: chmod o+x");
    assert.equal(failureText("plain"), "plain");
  });
});

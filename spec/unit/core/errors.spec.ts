import assert from "node:assert/strict";
import { BridgeError, retryHint, userText } from "../../../src/core/errors";
import { MatrixError } from "../../../src/matrix/MatrixApi";

describe("delivery error classification", () => {
  it("retries homeserver rate limits, server errors and unreachability, honouring retry_after_ms", () => {
    assert.deepEqual(retryHint(new MatrixError("x", 429, "M_LIMIT_EXCEEDED", 1500)), {
      retry: true,
      afterMs: 1500,
    });
    assert.equal(retryHint(new MatrixError("x", 502)).retry, true);
    assert.equal(retryHint(new MatrixError("x", 0)).retry, true);
    assert.equal(retryHint(new MatrixError("x", 403, "M_FORBIDDEN")).retry, false);
  });

  it("reads status and retryAfterMs from connector errors, and network codes", () => {
    assert.deepEqual(retryHint(Object.assign(new Error("x"), { status: 429, retryAfterMs: 3000 })), {
      retry: true,
      afterMs: 3000,
    });
    assert.equal(retryHint(Object.assign(new Error("x"), { status: 400 })).retry, false);
    assert.equal(retryHint(Object.assign(new Error("x"), { code: "ECONNREFUSED" })).retry, true);
    assert.equal(retryHint(new TypeError("bug")).retry, false);
  });

  it("keeps the text for people apart from the cause", () => {
    const err = new BridgeError("the chat is gone", new Error("404 internal detail"));
    assert.equal(userText(err), "the chat is gone");
    assert.equal(
      userText(new MatrixError("x", 403, "M_FORBIDDEN")),
      "the homeserver refused it (M_FORBIDDEN)",
    );
    assert.equal(userText(new TypeError("secret internals")), "an internal error (see the bridge log)");
  });
});

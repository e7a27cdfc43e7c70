import assert from "node:assert/strict";
import { BridgeError, classifyFailure, retryHint, userText } from "../../../src/core/errors";
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

describe("failure classes for the delivery queue", () => {
  it("holds on outages: unreachable, rate limited, gateway errors, a lost database", () => {
    for (const status of [0, 429, 502, 503, 504]) {
      assert.equal(classifyFailure(new MatrixError("x", status)).kind, "outage", `status ${status}`);
    }
    assert.deepEqual(classifyFailure(new MatrixError("x", 429, "M_LIMIT_EXCEEDED", 700)), {
      kind: "outage",
      afterMs: 700,
    });
    assert.equal(classifyFailure(Object.assign(new Error("x"), { code: "ECONNREFUSED" })).kind, "outage");
    assert.equal(
      classifyFailure(Object.assign(new Error("terminating"), { code: "57P01", severity: "FATAL" })).kind,
      "outage",
    );
    assert.equal(
      classifyFailure(Object.assign(new Error("x"), { code: "08006", severity: "FATAL" })).kind,
      "outage",
    );
    assert.equal(classifyFailure(new Error("Connection terminated unexpectedly")).kind, "outage");
  });

  it("counts refusals: other 4xx and 5xx answers, database data errors and our own bugs", () => {
    assert.equal(classifyFailure(new MatrixError("x", 500, "M_UNKNOWN")).kind, "refused");
    assert.equal(classifyFailure(new MatrixError("x", 400, "M_BAD_JSON")).kind, "refused");
    assert.equal(classifyFailure(Object.assign(new Error("x"), { status: 403 })).kind, "refused");
    assert.equal(
      classifyFailure(Object.assign(new Error("bad"), { code: "22021", severity: "ERROR" })).kind,
      "refused",
    );
    assert.equal(classifyFailure(new TypeError("bug")).kind, "refused");
    assert.equal(classifyFailure(new BridgeError("try later", undefined, true)).kind, "refused");
  });

  it("gives up at once on what the code already explained to the user", () => {
    assert.equal(classifyFailure(new BridgeError("file too large")).kind, "permanent");
  });
});

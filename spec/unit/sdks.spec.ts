import assert from "node:assert/strict";

describe("Matrix SDKs", () => {
  it("both load, with the crypto library override in place", () => {
    // matrix-appservice-bridge pulls @vector-im/matrix-bot-sdk, whose crypto dependency is
    // overridden in package.json with a package that ships its native library.
    const bridge = require("matrix-appservice-bridge") as {
      Bridge?: unknown;
      AppServiceRegistration?: unknown;
    };
    const botSdk = require("@vector-im/matrix-bot-sdk") as { Appservice?: unknown; MatrixClient?: unknown };
    assert.equal(typeof bridge.Bridge, "function");
    assert.equal(typeof bridge.AppServiceRegistration, "function");
    assert.equal(typeof botSdk.Appservice, "function");
    assert.equal(typeof botSdk.MatrixClient, "function");
  });
});

import { strict as assert } from "node:assert";
import { ConfigError, configFromObject } from "../../../src/config/Config";

const HS = { url: "http://127.0.0.1:8008", domain: "localhost" };

describe("config: appservice.public_url", () => {
  it("is unset by default and accepted as an http(s) URL, also from the environment", () => {
    assert.equal(configFromObject({ homeserver: HS }).appservice.public_url, undefined);
    const c = configFromObject({ homeserver: HS, appservice: { public_url: "https://bridge.example.org/" } });
    assert.equal(c.appservice.public_url, "https://bridge.example.org/");
    const e = configFromObject(
      { homeserver: HS },
      { CLAWBRIDGE_APPSERVICE__PUBLIC_URL: "https://b.example.org" },
    );
    assert.equal(e.appservice.public_url, "https://b.example.org");
  });

  it("names the key and what it must be when it is not a URL", () => {
    try {
      configFromObject({ homeserver: HS, appservice: { public_url: "bridge.example.org" } });
      assert.fail("accepted a public_url without a scheme");
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      const p = err.problems.find((x) => x.startsWith("appservice.public_url: "));
      assert.equal(
        p,
        "appservice.public_url: must be an http(s) URL that platforms can reach (e.g. https://bridge.example.org)",
      );
    }
  });
});

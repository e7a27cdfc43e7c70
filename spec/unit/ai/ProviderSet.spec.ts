import { strict as assert } from "node:assert";
import { ProviderSet } from "../../../src/ai/ProviderSet";
import { defaultProviderFactory } from "../../../src/ai/providerFactory";
import { FailoverProvider } from "../../../src/ai/providers";
import { configFromObject } from "../../../src/config/Config";

function config(ai: Record<string, unknown>) {
  return configFromObject({ homeserver: { url: "http://127.0.0.1:8008", domain: "localhost" }, ai }).ai;
}

const PROVIDERS = {
  a: { kind: "openai", base_url: "http://127.0.0.1:9/v1", model: "ma" },
  b: { kind: "ollama", base_url: "http://127.0.0.1:9", model: "mb" },
  c: { kind: "openai", base_url: "http://127.0.0.1:9/v1", model: "mc", stream: false },
};

describe("ai: providers of a room", () => {
  it("the room's provider (or the default) first, then the failover list in order, without repeats", () => {
    const set = new ProviderSet(
      config({ providers: PROVIDERS, default_provider: "b", failover: ["c", "b"] }),
      defaultProviderFactory,
    );
    assert.deepEqual(set.forRoom()?.chain, ["b", "c"]);
    assert.deepEqual(set.forRoom("a")?.chain, ["a", "c", "b"]);
    assert.deepEqual(set.forRoom("gone")?.chain, ["b", "c"], "a removed provider falls back to the default");
    const p = set.forRoom("a")!.provider;
    assert.ok(p instanceof FailoverProvider);
    assert.deepEqual(
      p.providers.map((x) => x.name),
      ["a", "c", "b"],
    );
    assert.equal(set.forRoom("a")!.provider, p, "built once per order");
  });

  it("one provider needs no failover; none configured gives none; the default is the first", () => {
    const one = new ProviderSet(config({ providers: { a: PROVIDERS.a } }), defaultProviderFactory);
    assert.equal(one.defaultName(), "a");
    assert.equal(one.forRoom()?.provider.name, "a");
    assert.equal(one.forRoom()?.provider.defaultModel, "ma");
    assert.equal(new ProviderSet(config({}), defaultProviderFactory).forRoom(), undefined);
  });
});

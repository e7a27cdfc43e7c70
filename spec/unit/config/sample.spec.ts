import { strict as assert } from "node:assert";
import fs from "node:fs";
import path from "node:path";
import yaml from "js-yaml";
import { BUILTIN_PLATFORMS } from "../../../bridges/builtin";
import { configFromObject, loadConfig } from "../../../src/config/Config";
import { buildRegistration } from "../../../src/config/registration";
import { renderRegistrationExample, renderSampleConfig } from "../../../src/config/sample";
import { CONFIG_SCHEMA, type SchemaNode } from "../../../src/config/schema";

const ROOT = path.resolve(__dirname, "../../..");
const REGENERATE = "run npx tsx scripts/gen-config-sample.ts";

function* keys(node: SchemaNode, at: string): Generator<[string, SchemaNode]> {
  for (const [k, child] of Object.entries(node.properties ?? {})) {
    yield [`${at}${k}`, child];
    yield* keys(child, `${at}${k}.`);
  }
  if (typeof node.additionalProperties === "object") yield* keys(node.additionalProperties, `${at}<name>.`);
}

describe("config: sample files", () => {
  it("config.sample.yaml is the generated text", () => {
    const committed = fs.readFileSync(path.join(ROOT, "config.sample.yaml"), "utf8");
    assert.equal(committed, renderSampleConfig(), `config.sample.yaml is stale: ${REGENERATE}`);
  });

  it("config.sample.yaml loads as it is, and with the homeserver taken from the environment", () => {
    const file = path.join(ROOT, "config.sample.yaml");
    const c = loadConfig(file, {});
    assert.equal(c.homeserver.url, "http://127.0.0.1:8008");
    assert.equal(c.homeserver.domain, "localhost");
    const d = loadConfig(file, {
      CLAWBRIDGE_HOMESERVER__URL: "https://matrix.example.org",
      CLAWBRIDGE_HOMESERVER__DOMAIN: "example.org",
    });
    assert.equal(d.homeserver.domain, "example.org");
  });

  it("config.sample.yaml with every commented-out key enabled still loads", () => {
    const text = renderSampleConfig()
      .split("\n")
      .map((l) => l.replace(/^(\s*)# ((?:avatar|url|shared_secret|ghost_prefix|alias_prefix): .*)$/, "$1$2"))
      .join("\n")
      .replace(
        "<a random string of at least 16 characters (make one with `openssl rand -hex 32`)>",
        "x".repeat(32),
      );
    const c = configFromObject(yaml.load(text));
    assert.equal(c.bridge.bot.avatar, "mxc://localhost/clawbridge-avatar");
    assert.match(c.database.url ?? "", /^postgres:\/\//);
  });

  it("the sample documents every connector's keys, and enabling all of them still loads", () => {
    // Uncomment every key of the built-in platforms' sections (4 spaces deep under `platforms:`)
    // and enable each platform: what the sample shows must be valid as written.
    const lines = renderSampleConfig().split("\n");
    const start = lines.indexOf("platforms:");
    const text = lines
      .map((l, i) =>
        i > start
          ? l.replace(/^ {4}# ([a-z_]+: .*)$/, "    $1").replace(/^ {4}enabled: false$/, "    enabled: true")
          : l,
      )
      .join("\n");
    const c = configFromObject(yaml.load(text));
    for (const { name, config, read } of BUILTIN_PLATFORMS) {
      assert.equal(c.platforms[name].enabled, true);
      for (const key of Object.keys(config.properties)) {
        assert.ok(key in c.platforms[name], `platforms.${name}.${key} is not in the sample`);
      }
      read(c.platforms[name], name);
    }
    assert.equal(c.platforms.telegram.bot_token, "123456789:AAHexample-token-from-botfather");
  });

  it("registration.yaml.example is the generated text and matches buildRegistration", () => {
    const committed = fs.readFileSync(path.join(ROOT, "registration.yaml.example"), "utf8");
    assert.equal(committed, renderRegistrationExample(), `registration.yaml.example is stale: ${REGENERATE}`);
    const parsed = yaml.load(committed) as Record<string, unknown>;
    assert.equal(parsed.as_token, "<generated>");
    assert.equal(parsed.hs_token, "<generated>");
    const c = configFromObject({
      homeserver: { url: "http://127.0.0.1:8008", domain: "example.org" },
      platforms: {
        telegram: { enabled: true },
        discord: { enabled: true },
        slack: { enabled: true },
        whatsapp: { enabled: true },
      },
    });
    assert.deepEqual(parsed, buildRegistration(c, { as_token: "<generated>", hs_token: "<generated>" }));
  });

  it("every key in the schema has a description, and a default or an example or a reason to be unset", () => {
    for (const [key, node] of keys(CONFIG_SCHEMA, "")) {
      assert.ok(node.description, `${key} has no description`);
      const documented =
        node.default !== undefined || node.examples !== undefined || node["x-expected"] !== undefined;
      assert.ok(documented, `${key} has no default, example or x-expected`);
    }
  });

  it("every described key appears in the sample", () => {
    const sample = renderSampleConfig();
    for (const [key, node] of keys(CONFIG_SCHEMA, "")) {
      const last = key.split(".").pop() ?? key;
      if (last === "<name>") continue;
      // Hidden keys are documented once in a comment block (platforms' `module`).
      if (node["x-sample-hidden"]) assert.ok(sample.includes(`\`${last}\``), `${key} is not documented`);
      else
        assert.ok(
          new RegExp(`(^|\\n)\\s*(#\\s*)?${last}:`).test(sample),
          `${key} is missing from the sample`,
        );
    }
  });
});

import { strict as assert } from "node:assert";
import fc from "fast-check";
import yaml from "js-yaml";
import { BUILTIN_PLATFORMS } from "../../../bridges/builtin";
import { ConfigError, configFromObject } from "../../../src/config/Config";
import type { SchemaNode } from "../../../src/config/schemaNodes";
import { redact } from "../../../src/log/Logger";
import { fuzzParams } from "../../harness/fuzz";

const HS = { url: "http://127.0.0.1:8008", domain: "localhost" };

/** Loads a config whose only non-default part is `platforms.<name>`. */
function load(name: string, section: unknown) {
  return configFromObject({ homeserver: HS, platforms: { [name]: section } });
}

/** The problem lines of the ConfigError that `fn` throws (fails if it throws anything else). */
function problems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return err.problems;
  }
  assert.fail("expected a ConfigError, but the config loaded");
}

/** A value of the wrong type for `node`, and what the error then says. */
function wrongValue(node: SchemaNode): [unknown, RegExp] {
  const t = Array.isArray(node.type) ? "string" : node.type;
  switch (t) {
    case "string":
      return Array.isArray(node.type) ? [{ a: 1 }, /must be/] : [{ nested: true }, /must be text/];
    case "integer":
    case "number":
      return ["12", /must be a (whole )?number/];
    case "boolean":
      return ["yes", /must be true or false/];
    case "array":
      return ["one", /must be a list/];
    default:
      return [7, /must be/];
  }
}

/** A section with every key at its first example or its default: valid as it is. */
function exampleSection(properties: Record<string, SchemaNode>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, node] of Object.entries(properties)) {
    if (node.type === "array" && node.items?.properties) out[k] = [exampleSection(node.items.properties)];
    else {
      const v = node.examples?.[0] ?? node.default;
      if (v !== undefined) out[k] = v;
    }
  }
  return out;
}

describe("config: connector sections", () => {
  const typos: Record<string, [string, string]> = {
    telegram: ["bot_tokn", "bot_token"],
    discord: ["cdn_roto", "cdn_root"],
    slack: ["app_tokn", "app_token"],
    whatsapp: ["device_nme", "device_name"],
  };

  it("covers every built-in platform", () => {
    assert.deepEqual(Object.keys(typos).sort(), BUILTIN_PLATFORMS.map((p) => p.name).sort());
  });

  for (const { name, config } of BUILTIN_PLATFORMS) {
    describe(`platforms.${name}`, () => {
      it("names a misspelt key by its path and suggests the right one", () => {
        const [typo, meant] = typos[name];
        assert.deepEqual(
          problems(() => load(name, { [typo]: "x" })),
          [`platforms.${name}.${typo}: unknown key '${typo}' (did you mean '${meant}'?)`],
        );
      });

      it("names a key unlike any known one and lists the known keys", () => {
        const [line] = problems(() => load(name, { zzzzzzzzzzzz: 1 }));
        assert.match(
          line,
          new RegExp(
            `^platforms\\.${name}\\.zzzzzzzzzzzz: unknown key .*: remove it \\(known keys: enabled, `,
          ),
        );
      });

      for (const [key, node] of Object.entries(config.properties)) {
        it(`refuses a wrong type for ${key}, naming platforms.${name}.${key}`, () => {
          const [value, text] = wrongValue(node);
          const lines = problems(() => load(name, { [key]: value }));
          const line = lines.find((l) => l.startsWith(`platforms.${name}.${key}:`));
          assert.ok(line, `no problem names platforms.${name}.${key}: ${lines.join(" | ")}`);
          assert.match(line, text);
        });
      }

      it("loads with every key at its documented example", () => {
        const c = load(name, { enabled: true, ...exampleSection(config.properties) });
        assert.equal(c.platforms[name].enabled, true);
      });

      it("fills the connector's defaults into the section", () => {
        const c = load(name, { enabled: false });
        for (const [key, node] of Object.entries(config.properties)) {
          if (node.default !== undefined) assert.deepEqual(c.platforms[name][key], node.default, key);
        }
      });
    });
  }

  it("says which key a set key needs, and why", () => {
    assert.deepEqual(
      problems(() => load("telegram", { bot_token: "123:abc" })),
      [
        'platforms.telegram.owner: is missing (needed because bot_token is set): add it, e.g. owner: "@you:example.org"',
      ],
    );
    assert.deepEqual(
      problems(() => load("slack", { owner: "@a:b", workspaces: [{ app_token: "xapp-1" }] })),
      ["platforms.slack.workspaces[0].bot_token: is missing: add it, e.g. bot_token: xoxb-second"],
    );
  });

  it("checks the rules between keys at load time, with the key path", () => {
    assert.deepEqual(
      problems(() => load("slack", { bot_token: "xoxb-1-2", owner: "@a:b" })),
      ["platforms.slack: give app_token (Socket Mode, recommended) or signing_secret (Events API over HTTP)"],
    );
    assert.deepEqual(
      problems(() => load("whatsapp", { backoff_initial_ms: 10, backoff_max_ms: 5 })),
      ["platforms.whatsapp.backoff_max_ms: must be at least backoff_initial_ms (10)"],
    );
  });

  it("does not echo a secret that has the wrong shape", () => {
    const token = "not-a-token-Zq81xW";
    const lines = problems(() => load("discord", { bot_token: token, owner: "@a:b" }));
    assert.equal(lines.length, 1);
    assert.match(lines[0], /^platforms\.discord\.bot_token: must be a bot token/);
    assert.ok(!lines[0].includes(token));
  });

  it("registers the connectors' secrets for redaction, and none of their defaults", () => {
    const token = "123456:Zr9secretTokenForRedaction";
    const c = configFromObject({
      homeserver: HS,
      platforms: {
        ...Object.fromEntries(BUILTIN_PLATFORMS.map((p) => [p.name, { enabled: true }])),
        telegram: { enabled: true, bot_token: token, owner: "@a:b" },
      },
    });
    assert.equal(c.platforms.telegram.webhook_bind_address, "127.0.0.1");
    assert.equal(c.platforms.discord.webhook_name, "clawbridge");
    assert.equal(redact(`a ${token} b`), "a <redacted> b");
    // Defaults such as webhook_bind_address and webhook_name are not secrets.
    assert.equal(redact("listening on 127.0.0.1 as clawbridge"), "listening on 127.0.0.1 as clawbridge");
  });

  it("types environment overrides of connector keys by the connector's schema", () => {
    const c = configFromObject(
      { homeserver: HS },
      {
        CLAWBRIDGE_PLATFORMS__DISCORD__WEBHOOK_NAME: "1234",
        CLAWBRIDGE_PLATFORMS__DISCORD__CATCH_UP_LIMIT: "5",
        CLAWBRIDGE_PLATFORMS__TELEGRAM__MODERATION: "true",
      },
    );
    assert.equal(c.platforms.discord.webhook_name, "1234");
    assert.equal(c.platforms.discord.catch_up_limit, 5);
    assert.equal(c.platforms.telegram.moderation, true);
    assert.deepEqual(
      problems(() =>
        configFromObject({ homeserver: HS }, { CLAWBRIDGE_PLATFORMS__SLACK__MAX_FILE_BYTES: "lots" }),
      ),
      [
        "platforms.slack.max_file_bytes: must be a whole number (e.g. 104857600) (set by CLAWBRIDGE_PLATFORMS__SLACK__MAX_FILE_BYTES)",
      ],
    );
  });

  it("leaves a third-party platform's own keys to its module", () => {
    const c = load("matrixish", { module: "./x.js", bot_tokn: "anything" });
    assert.equal(c.platforms.matrixish.bot_tokn, "anything");
  });

  describe("hostile sections (property-based)", () => {
    // Values a YAML file can hold, including NUL, lone surrogates and deep nesting.
    const scalar = fc.oneof(
      fc.string({ unit: "binary", maxLength: 20 }),
      fc.integer(),
      fc.double(),
      fc.boolean(),
      fc.constant(null),
      fc.constantFrom(
        "",
        "\u0000",
        "\ud800",
        "https://x",
        "@a:b",
        "123:abc",
        "xoxb-1",
        "webhook",
        0,
        -1,
        1,
        65536,
      ),
    );
    const value = fc.letrec((tie) => ({
      v: fc.oneof(
        { depthSize: "small", withCrossShrink: true },
        scalar,
        fc.array(tie("v"), { maxLength: 4 }),
        fc.dictionary(fc.string({ maxLength: 8 }), tie("v"), { maxKeys: 4 }),
      ),
    })).v;

    for (const { name, config, read } of BUILTIN_PLATFORMS) {
      const known = [...Object.keys(config.properties), "enabled", "ghost_prefix", "alias_prefix"];
      // A key: a known one, a known one mutated by one character, or anything.
      const key = fc.oneof(
        fc.constantFrom(...known),
        fc
          .tuple(
            fc.constantFrom(...known),
            fc.nat(),
            fc.string({ minLength: 1, maxLength: 1, unit: "binary" }),
          )
          .map(([k, i, ch]) => k.slice(0, i % k.length) + ch + k.slice((i % k.length) + 1)),
        fc.string({ maxLength: 12, unit: "binary" }),
      );
      // A valid section (every key at its example or default), then a few edits of it.
      // Mostly edits of known keys, often to values at a boundary.
      const knownKey = fc.oneof({ arbitrary: fc.constantFrom(...known), weight: 4 }, key);
      const edited = fc.oneof(fc.constantFrom<unknown>("", 0, -1, 1, 65536, [], {}, null, "x"), value);
      const edit = fc.oneof(
        fc.tuple(fc.constant("drop" as const), knownKey, value),
        fc.tuple(fc.constant("set" as const), knownKey, edited),
        fc.tuple(fc.constant("rename" as const), knownKey, key),
      );
      const mutated = fc.array(edit, { maxLength: 4 }).map((edits) => {
        const s: Record<string, unknown> = { enabled: true, ...exampleSection(config.properties) };
        for (const [op, k, v] of edits) {
          if (op === "drop") delete s[k];
          else if (op === "set") s[k] = v;
          else if (k in s) {
            s[String(v)] = s[k];
            delete s[k];
          }
        }
        return s;
      });
      const section = fc.oneof(mutated, fc.dictionary(key, value, { maxKeys: 8 }), value);

      it(`platforms.${name}: only ever a ConfigError, each problem naming a key path`, () => {
        const outcomes = { loaded: 0, refused: 0 };
        fc.assert(
          fc.property(section, (raw) => {
            // Through YAML and back, as the file would carry it.
            const parsed = yaml.load(yaml.dump({ platforms: { [name]: raw } }, { skipInvalid: true })) as {
              platforms: Record<string, unknown>;
            };
            for (const attempt of [
              () => load(name, parsed.platforms[name]),
              () => read(parsed.platforms[name], name),
            ]) {
              try {
                attempt();
                outcomes.loaded++;
              } catch (err) {
                if (!(err instanceof ConfigError)) throw err;
                outcomes.refused++;
                assert.ok(err.problems.length > 0);
                for (const line of err.problems) {
                  assert.match(line, new RegExp(`^platforms\\.${name}(\\.|\\[|:)`), line);
                }
              }
            }
          }),
          fuzzParams(200),
        );
        // Both ways through the loader were taken: the property is not decided by the schema alone.
        assert.ok(outcomes.loaded > 0 && outcomes.refused > 0, JSON.stringify(outcomes));
      });
    }
  });
});

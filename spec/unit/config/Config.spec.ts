import { strict as assert } from "node:assert";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ConfigError, configFromObject, loadConfig } from "../../../src/config/Config";
import { redact } from "../../../src/log/Logger";

const HS = { url: "http://127.0.0.1:8008", domain: "localhost" };

function secret(): string {
  return randomBytes(18).toString("hex");
}

/** The problem lines of the ConfigError thrown by `fn`. */
function problems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    for (const p of err.problems) assert.ok(err.message.includes(`\n${p}`), "message lists every problem");
    return err.problems;
  }
  assert.fail("expected a ConfigError");
}

function problem(fn: () => unknown, path: string): string {
  const found = problems(fn).find((p) => p.startsWith(`${path}: `));
  assert.ok(found, `no problem reported for ${path}`);
  return found;
}

describe("config: loading", () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "clawbridge-config-"));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  function write(text: string): string {
    const file = path.join(dir, "config.yaml");
    fs.writeFileSync(file, text);
    return file;
  }

  it("fills every default around a minimal config", () => {
    const c = loadConfig(write("homeserver:\n  url: http://127.0.0.1:8008\n  domain: localhost\n"), {});
    assert.equal(c.appservice.id, "clawbridge");
    assert.equal(c.appservice.url, "http://127.0.0.1:29330");
    assert.equal(c.appservice.bind_address, "127.0.0.1");
    assert.equal(c.appservice.port, 29330);
    assert.equal(
      c.appservice.registration,
      path.join(dir, "registration.yaml"),
      "relative to the config file",
    );
    assert.deepEqual(c.bridge.bot, { localpart: "clawbridge", displayname: "Clawbridge bridge bot" });
    assert.equal(c.bridge.command_prefix, "!cb");
    assert.deepEqual(c.bridge.permissions, { "*": "relay" });
    assert.equal(c.bridge.portal_join_rule, "invite");
    assert.deepEqual(
      { enabled: c.ai.enabled, localpart: c.ai.localpart, displayname: c.ai.displayname },
      { enabled: true, localpart: "ai", displayname: "AI" },
    );
    assert.deepEqual(c.ai.providers, {});
    assert.equal(c.ai.streaming.max_edits, 15);
    assert.deepEqual(c.database, { data_dir: path.join(dir, "data"), embedded_port: 0, max_connections: 10 });
    assert.deepEqual(c.delivery, {
      initial_backoff_ms: 250,
      max_backoff_ms: 30000,
      max_attempts: 5,
      give_up_after_seconds: 3600,
    });
    assert.deepEqual(c.provisioning, { enabled: false, prefix: "/_clawbridge/provisioning" });
    assert.deepEqual(c.metrics, { enabled: true });
    assert.deepEqual(c.logging, { level: "info", format: "pretty" });
    for (const p of ["telegram", "discord", "slack", "whatsapp"]) {
      const { enabled, ghost_prefix, alias_prefix } = c.platforms[p];
      assert.deepEqual(
        { enabled, ghost_prefix, alias_prefix },
        { enabled: false, ghost_prefix: `_${p}_`, alias_prefix: `_${p}_` },
      );
    }
    // Each connector's own defaults come from the schema it declares.
    assert.equal(c.platforms.telegram.api_root, "https://api.telegram.org");
    assert.equal(c.platforms.discord.catch_up_limit, 100);
    assert.equal(c.platforms.slack.api_url, "https://slack.com/api/");
    assert.equal(c.platforms.whatsapp.websocket_url, "wss://web.whatsapp.com/ws/chat");
  });

  it("resolves relative paths against the config file's directory and keeps absolute ones", () => {
    const file = write(
      "homeserver:\n  url: http://127.0.0.1:8008\n  domain: localhost\n" +
        "appservice:\n  registration: /etc/clawbridge/registration.yaml\n" +
        "platforms:\n  testnet:\n    module: ../standins/testnet.js\n",
    );
    const c = loadConfig(file, {});
    assert.equal(c.appservice.registration, "/etc/clawbridge/registration.yaml");
    assert.equal(c.platforms.testnet.module, path.resolve(dir, "../standins/testnet.js"));
  });

  it("keeps connector-specific keys and gives third-party platforms their prefixes", () => {
    const c = configFromObject({
      homeserver: HS,
      platforms: {
        telegram: { enabled: true, bot_token: `123456:${secret()}`, owner: "@me:localhost" },
        matrixish: { module: "./x.js" },
      },
    });
    assert.equal(typeof c.platforms.telegram.bot_token, "string");
    assert.deepEqual(c.platforms.matrixish, {
      module: "./x.js",
      enabled: false,
      ghost_prefix: "_matrixish_",
      alias_prefix: "_matrixish_",
    });
  });

  it("treats `key:` with no value and an empty database.url as unset", () => {
    const c = configFromObject({ homeserver: HS, bridge: { bot: { avatar: null } }, database: { url: "" } });
    assert.equal(c.bridge.bot.avatar, undefined);
    assert.equal(c.database.url, undefined);
  });

  it("names the file when it is missing", () => {
    const file = path.join(dir, "nope.yaml");
    const [p] = problems(() => loadConfig(file, {}));
    assert.match(p, /nope\.yaml: file not found: copy config\.sample\.yaml/);
  });

  it("reports a YAML syntax error with file and line", () => {
    const file = write("homeserver:\n  url: http://127.0.0.1:8008\n   domain: [localhost\n");
    const [p] = problems(() => loadConfig(file, {}));
    assert.match(p, /config\.yaml line 3, column \d+: invalid YAML: /);
  });

  it("does not show secrets from the YAML snippet", () => {
    const token = `123456:${secret()}`;
    const file = write(`platforms:\n  telegram:\n    bot_token: ${token}\n    chats: [1\n`);
    const [p] = problems(() => loadConfig(file, {}));
    assert.match(p, /invalid YAML/);
    assert.ok(!p.includes(token.split(":")[1]), p);
  });

  it("reports a non-mapping document", () => {
    assert.match(problems(() => configFromObject(["a"]))[0], /must be a mapping of sections/);
  });

  it("accepts an empty or comment-only file as far as YAML goes and asks for the homeserver", () => {
    const ps = problems(() => loadConfig(write("# nothing yet\n"), {}));
    assert.deepEqual(ps, [
      "homeserver.url: is missing: add it, e.g. url: http://127.0.0.1:8008",
      "homeserver.domain: is missing: add it, e.g. domain: localhost",
    ]);
  });
});

describe("config: error texts name the key path and the fix", () => {
  it("bad URL", () => {
    assert.equal(
      problem(() => configFromObject({ homeserver: { ...HS, url: "localhost:8008" } }), "homeserver.url"),
      "homeserver.url: must be an http(s) URL (e.g. http://127.0.0.1:8008)",
    );
  });

  it("wrong type", () => {
    assert.equal(
      problem(() => configFromObject({ homeserver: HS, appservice: { port: "eighty" } }), "appservice.port"),
      "appservice.port: must be a whole number (e.g. 29330)",
    );
    assert.match(
      problem(() => configFromObject({ homeserver: HS, metrics: { enabled: "yes" } }), "metrics.enabled"),
      /must be true or false/,
    );
    assert.match(
      problem(() => configFromObject({ homeserver: { ...HS, domain: 42 } }), "homeserver.domain"),
      /must be text: put the value in quotes$/,
    );
    const numeric = "98765432109876543210";
    const shown = problem(
      () => configFromObject({ homeserver: HS, provisioning: { shared_secret: Number(numeric) } }),
      "provisioning.shared_secret",
    );
    assert.ok(!shown.includes("98765"), "the value is not echoed");
  });

  it("bad enum", () => {
    assert.equal(
      problem(() => configFromObject({ homeserver: HS, logging: { level: "verbose" } }), "logging.level"),
      "logging.level: must be one of: error, warn, info, debug",
    );
    assert.equal(
      problem(
        () => configFromObject({ homeserver: HS, bridge: { permissions: { "@a:localhost": "root" } } }),
        'bridge.permissions["@a:localhost"]',
      ),
      'bridge.permissions["@a:localhost"]: must be one of: relay, user, admin',
    );
  });

  it("unknown key with the closest known key", () => {
    assert.equal(
      problem(() => configFromObject({ homeserver: { ulr: HS.url, domain: HS.domain } }), "homeserver.ulr"),
      "homeserver.ulr: unknown key 'ulr' (did you mean 'url'?)",
    );
    assert.equal(
      problem(() => configFromObject({ homeserver: HS, loging: {} }), "loging"),
      "loging: unknown key 'loging' (did you mean 'logging'?)",
    );
    assert.match(
      problem(() => configFromObject({ homeserver: HS, database: { zzzzzz: 1 } }), "database.zzzzzz"),
      /unknown key 'zzzzzz': remove it \(known keys: url, data_dir, embedded_port, max_connections\)/,
    );
  });

  it("unknown platform without a module suggests the built-in one", () => {
    assert.match(
      problem(
        () => configFromObject({ homeserver: HS, platforms: { telegarm: { enabled: true } } }),
        "platforms.telegarm",
      ),
      /unknown platform 'telegarm' \(did you mean 'telegram'\?\); a third-party platform needs module:/,
    );
  });

  it("missing required key", () => {
    assert.equal(
      problem(() => configFromObject({ homeserver: { url: HS.url } }), "homeserver.domain"),
      "homeserver.domain: is missing: add it, e.g. domain: localhost",
    );
  });

  it("provisioning enabled without a secret, or with a short one", () => {
    assert.match(
      problem(
        () => configFromObject({ homeserver: HS, provisioning: { enabled: true } }),
        "provisioning.shared_secret",
      ),
      /is missing \(needed because provisioning\.enabled is true\): add it, e.g\. shared_secret: <a random string of at least 16 characters/,
    );
    assert.match(
      problem(
        () => configFromObject({ homeserver: HS, provisioning: { enabled: true, shared_secret: "short" } }),
        "provisioning.shared_secret",
      ),
      /must be a random string of at least 16 characters/,
    );
    const c = configFromObject({ homeserver: HS, provisioning: { enabled: true, shared_secret: secret() } });
    assert.equal(c.provisioning.enabled, true);
  });

  it("lists every problem at once", () => {
    const ps = problems(() =>
      configFromObject({ homeserver: { url: "x" }, appservice: { port: 0 }, logging: { format: "xml" } }),
    );
    assert.deepEqual(ps.map((p) => p.slice(0, p.indexOf(":"))).sort(), [
      "appservice.port",
      "homeserver.domain",
      "homeserver.url",
      "logging.format",
    ]);
    assert.equal(ps.length, 4);
  });

  it("rejects overlapping prefixes and a bot/AI clash", () => {
    assert.match(
      problem(
        () =>
          configFromObject({
            homeserver: HS,
            platforms: { slack: { enabled: true }, telegram: { enabled: true, ghost_prefix: "_slack_" } },
          }),
        "platforms.telegram.ghost_prefix",
      ),
      /overlaps platforms\.slack\.ghost_prefix/,
    );
    assert.match(
      problem(() => configFromObject({ homeserver: HS, ai: { localpart: "clawbridge" } }), "ai.localpart"),
      /must differ from bridge\.bot\.localpart/,
    );
  });
});

describe("config: environment overrides", () => {
  it("sets nested keys, numbers and booleans, case-insensitively", () => {
    const token = `123456:${secret()}`;
    const c = configFromObject(
      { homeserver: HS, platforms: { telegram: { enabled: false } } },
      {
        CLAWBRIDGE_APPSERVICE__PORT: "8090",
        CLAWBRIDGE_METRICS__ENABLED: "false",
        clawbridge_ignored__x: "1",
        CLAWBRIDGE_PLATFORMS__TELEGRAM__ENABLED: "true",
        CLAWBRIDGE_PLATFORMS__TELEGRAM__BOT_TOKEN: token,
        CLAWBRIDGE_PLATFORMS__TELEGRAM__OWNER: "@me:localhost",
        CLAWBRIDGE_PLATFORMS__Discord__Enabled: "true",
        CLAWBRIDGE_LOGGING__LEVEL: "debug",
      },
    );
    assert.equal(c.appservice.port, 8090);
    assert.equal(c.metrics.enabled, false);
    assert.equal(c.platforms.telegram.enabled, true);
    assert.equal(c.platforms.telegram.bot_token, token);
    assert.equal(c.platforms.discord.enabled, true);
    assert.equal(c.logging.level, "debug");
    assert.equal(redact(`token is ${token}`), "token is <redacted>");
  });

  it("keeps text keys as text and secrets verbatim", () => {
    const numeric = "12345678901234567890";
    const odd = `a #b: ${secret()}`;
    const c = configFromObject(
      { homeserver: HS },
      {
        CLAWBRIDGE_PROVISIONING__ENABLED: "true",
        CLAWBRIDGE_PROVISIONING__SHARED_SECRET: numeric,
        CLAWBRIDGE_PLATFORMS__SLACK__SIGNING_SECRET: odd,
        CLAWBRIDGE_DATABASE__URL: "",
      },
    );
    assert.equal(c.provisioning.shared_secret, numeric);
    assert.equal(c.platforms.slack.signing_secret, odd);
    assert.equal(c.database.url, undefined);
  });

  it("overrides the file and names the variable in errors", () => {
    const ps = problems(() =>
      configFromObject(
        { homeserver: HS },
        { CLAWBRIDGE_DATABASE__MAX_CONNECTIONS: "many", CLAWBRIDGE_HOMESERVER__ULR: "http://x" },
      ),
    );
    assert.ok(
      ps.includes(
        "database.max_connections: must be a whole number (e.g. 10) (set by CLAWBRIDGE_DATABASE__MAX_CONNECTIONS)",
      ),
    );
    assert.ok(
      ps.includes(
        "homeserver.ulr: unknown key 'ulr' (did you mean 'url'?) (set by CLAWBRIDGE_HOMESERVER__ULR)",
      ),
    );
  });

  it("reports a variable that reaches below a single value", () => {
    assert.match(
      problem(
        () => configFromObject({ homeserver: HS }, { CLAWBRIDGE_HOMESERVER__URL__X: "1" }),
        "homeserver.url",
      ),
      /is a single value, so CLAWBRIDGE_HOMESERVER__URL__X cannot set a key below it/,
    );
  });

  it("ignores variables without __ (registration tokens and the like)", () => {
    const c = configFromObject(
      { homeserver: HS },
      { CLAWBRIDGE_AS_TOKEN: secret(), CLAWBRIDGE_CONFIG: "x.yaml" },
    );
    assert.equal(c.homeserver.url, HS.url);
  });

  it("loadConfig reads process-style env", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "clawbridge-config-"));
    try {
      const file = path.join(dir, "c.yaml");
      fs.writeFileSync(file, "homeserver:\n  url: http://127.0.0.1:8008\n");
      const c = loadConfig(file, { CLAWBRIDGE_HOMESERVER__DOMAIN: "example.org" });
      assert.equal(c.homeserver.domain, "example.org");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("config: secrets", () => {
  it("registers secret-looking values and the database password", () => {
    const pw = secret();
    const apiKey = secret();
    const shared = secret();
    configFromObject({
      homeserver: HS,
      database: { url: `postgres://bridge:${pw}@127.0.0.1:5432/bridge` },
      provisioning: { enabled: true, shared_secret: shared },
      platforms: { matrixish: { enabled: true, module: "./x.js", api_key: apiKey } },
    });
    for (const s of [pw, apiKey, shared]) assert.equal(redact(`x ${s} y`), "x <redacted> y");
  });
});

describe("config: the AI's tools and MCP servers", () => {
  const base = (ai: Record<string, unknown>) => ({ homeserver: HS, database: { url: "" }, ai });

  it("defaults: the three built-in tools, four rounds, no MCP servers", () => {
    const c = configFromObject(base({}));
    assert.deepEqual(c.ai.tools.builtin, ["search_room", "read_span", "who_is_here"]);
    assert.equal(c.ai.tools.max_steps, 4);
    assert.deepEqual(c.ai.mcp_servers, {});
  });

  it("an MCP server needs exactly one of command and url, and its rooms", () => {
    assert.match(
      problem(() => configFromObject(base({ mcp_servers: { a: { rooms: ["*"] } } })), "ai.mcp_servers.a"),
      /give either command .* or url .*, not neither/,
    );
    assert.match(
      problem(
        () =>
          configFromObject(
            base({ mcp_servers: { a: { rooms: ["*"], command: "/bin/x", url: "http://127.0.0.1:1/mcp" } } }),
          ),
        "ai.mcp_servers.a",
      ),
      /not both/,
    );
    assert.ok(
      problems(() => configFromObject(base({ mcp_servers: { a: { url: "http://127.0.0.1:1/mcp" } } })))
        .length > 0,
    );
    assert.ok(
      problems(() =>
        configFromObject(base({ mcp_servers: { a: { url: "http://127.0.0.1:1/mcp", rooms: ["ops"] } } })),
      ).some((p) => p.includes("rooms")),
      "a room that is neither an id, an alias nor *",
    );
    assert.ok(
      problems(() => configFromObject(base({ tools: { builtin: ["rm_rf"] } }))).some((p) =>
        p.includes("builtin"),
      ),
    );
    assert.ok(
      problems(() =>
        configFromObject(base({ mcp_servers: { "bad name!": { url: "http://x/", rooms: [] } } })),
      ).length > 0,
    );
  });

  it("header and env values of MCP servers never reach the log", () => {
    const token = secret();
    configFromObject(
      base({
        mcp_servers: {
          a: { url: "http://127.0.0.1:1/mcp", headers: { Authorization: `Bearer ${token}` }, rooms: ["*"] },
        },
      }),
    );
    assert.equal(redact(`x Bearer ${token} y`).includes(token), false);
  });
});

import { strict as assert } from "node:assert";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import yaml from "js-yaml";
import { ConfigError, configFromObject } from "../../../src/config/Config";
import {
  buildRegistration,
  loadRegistrationTokens,
  type Registration,
  renderRegistration,
  writeRegistration,
} from "../../../src/config/registration";
import { redact } from "../../../src/log/Logger";

const config = configFromObject({
  homeserver: { url: "http://127.0.0.1:8008", domain: "chat.example.org" },
  platforms: { telegram: { enabled: true }, discord: { enabled: true, ghost_prefix: "_dc_" }, slack: {} },
});

function matches(entries: { regex: string }[], id: string): boolean {
  return entries.some((e) => new RegExp(e.regex).test(id));
}

describe("config: registration", () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "clawbridge-reg-"));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("claims the bot, the AI puppet and enabled platforms' ghosts and aliases", () => {
    const reg = buildRegistration(config);
    assert.equal(reg.sender_localpart, "clawbridge");
    assert.equal(reg.id, "clawbridge");
    assert.equal(reg.url, "http://127.0.0.1:29330");
    assert.deepEqual(
      reg.namespaces.users.map((u) => u.regex),
      [
        "^@clawbridge:chat\\.example\\.org$",
        "^@ai:chat\\.example\\.org$",
        "^@_telegram_.*:chat\\.example\\.org$",
        "^@_dc_.*:chat\\.example\\.org$",
      ],
    );
    assert.ok(reg.namespaces.users.every((u) => u.exclusive));
    assert.ok(reg.namespaces.aliases.every((a) => a.exclusive));
    const users = reg.namespaces.users;
    assert.ok(matches(users, "@_telegram_=41lice:chat.example.org"));
    assert.ok(matches(users, "@_dc_123:chat.example.org"));
    assert.ok(!matches(users, "@_slack_u1:chat.example.org"), "disabled platforms are not claimed");
    assert.ok(!matches(users, "@_telegram_1:chatxexample.org"), "the domain's dots are escaped");
    assert.ok(!matches(users, "@_telegram_1:chat.example.org.evil"), "anchored at the end");
    assert.ok(!matches(users, "@alice:chat.example.org"));
    assert.ok(matches(reg.namespaces.aliases, "#_telegram_-100123:chat.example.org"));
    assert.ok(!matches(reg.namespaces.aliases, "#_slack_c1:chat.example.org"));
    assert.deepEqual(reg.namespaces.rooms, []);
    assert.equal(reg.rate_limited, false);
    assert.equal(reg.receive_ephemeral, true);
    assert.equal(reg["de.sorunome.msc2409.push_ephemeral"], true);
    // Encrypted rooms: always present, so turning on encryption.allow needs no new registration.
    assert.equal(reg["org.matrix.msc3202"], true);
    assert.equal(reg["io.element.msc4190"], true);
    const text = renderRegistration(reg);
    assert.match(text, /^"?org\.matrix\.msc3202"?: true$/m);
    assert.match(text, /^"?io\.element\.msc4190"?: true$/m);
  });

  it("leaves out the AI puppet when disabled", () => {
    const c = configFromObject({ homeserver: config.homeserver, ai: { enabled: false } });
    assert.deepEqual(
      buildRegistration(c).namespaces.users.map((u) => u.regex),
      ["^@clawbridge:chat\\.example\\.org$"],
    );
  });

  it("makes fresh, different tokens on every call unless given", () => {
    const a = buildRegistration(config);
    const b = buildRegistration(config);
    const all = new Set([a.as_token, a.hs_token, b.as_token, b.hs_token]);
    assert.equal(all.size, 4);
    for (const t of all) assert.ok(t.length >= 40, "at least 32 random bytes");
    const given = { as_token: randomBytes(16).toString("hex"), hs_token: randomBytes(16).toString("hex") };
    const c = buildRegistration(config, given);
    assert.equal(c.as_token, given.as_token);
    assert.equal(c.hs_token, given.hs_token);
  });

  it("writes mode 0600 and refuses to overwrite without force", () => {
    const file = path.join(dir, "sub", "registration.yaml");
    const first = buildRegistration(config);
    writeRegistration(file, first);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.deepEqual(yaml.load(fs.readFileSync(file, "utf8")) as Registration, first);

    const second = buildRegistration(config);
    assert.throws(() => writeRegistration(file, second), /already exists; pass --force/);
    assert.equal((yaml.load(fs.readFileSync(file, "utf8")) as Registration).as_token, first.as_token);

    fs.chmodSync(file, 0o644);
    writeRegistration(file, second, { force: true });
    assert.equal((yaml.load(fs.readFileSync(file, "utf8")) as Registration).as_token, second.as_token);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.deepEqual(fs.readdirSync(path.dirname(file)), ["registration.yaml"], "no temp file left");
  });

  it("loads the tokens back, lets the environment win and registers them as secrets", () => {
    const file = path.join(dir, "registration.yaml");
    const reg = buildRegistration(config);
    writeRegistration(file, reg);
    assert.deepEqual(loadRegistrationTokens(file, { env: {} }), {
      as_token: reg.as_token,
      hs_token: reg.hs_token,
    });
    assert.equal(redact(`hs ${reg.hs_token}`), "hs <redacted>");

    const envAs = randomBytes(16).toString("hex");
    assert.deepEqual(loadRegistrationTokens(file, { env: { CLAWBRIDGE_AS_TOKEN: envAs } }), {
      as_token: envAs,
      hs_token: reg.hs_token,
    });
    const both = { CLAWBRIDGE_AS_TOKEN: envAs, CLAWBRIDGE_HS_TOKEN: randomBytes(16).toString("hex") };
    const fromEnv = loadRegistrationTokens(path.join(dir, "missing.yaml"), { env: both });
    assert.equal(fromEnv.hs_token, both.CLAWBRIDGE_HS_TOKEN);
  });

  it("says how to create a missing registration file", () => {
    const file = path.join(dir, "registration.yaml");
    assert.throws(
      () => loadRegistrationTokens(file, { env: {}, configPath: "my.yaml" }),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.message.includes(`run clawbridge generate-registration -c my.yaml -f ${file}`),
    );
  });

  it("reports a file without tokens", () => {
    const file = path.join(dir, "registration.yaml");
    fs.writeFileSync(file, "id: clawbridge\nhs_token: 42\n");
    assert.throws(
      () => loadRegistrationTokens(file, { env: {} }),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.problems.length === 2 &&
        err.problems[0].startsWith("as_token: is missing or not text: regenerate"),
    );
  });
});

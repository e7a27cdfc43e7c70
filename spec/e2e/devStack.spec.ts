import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { dump, load } from "js-yaml";
import { freePort } from "../../scripts/lib/ports";
import { TestnetServer } from "../standins/testnet/TestnetServer";

const REPO = path.resolve(__dirname, "../..");
const CONNECTOR = path.join(REPO, "spec/standins/testnet/TestnetConnector.ts");

/** Parent pid of every process, from /proc. */
function parents(): Map<number, number> {
  const out = new Map<number, number>();
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      // pid (comm) state ppid …; comm may hold spaces and parentheses.
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      out.set(Number(d), ppid);
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/** Every process below `root`, with its command line. */
function descendants(root: number): Map<number, string> {
  const ppids = parents();
  const out = new Map<number, string>();
  const queue = [root];
  while (queue.length) {
    const p = queue.shift()!;
    for (const [pid, ppid] of ppids) {
      if (ppid !== p || out.has(pid)) continue;
      let cmd = "?";
      try {
        cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ");
      } catch {
        // exited meanwhile
      }
      out.set(pid, cmd);
      queue.push(pid);
    }
  }
  return out;
}

/** Alive and not a zombie waiting to be reaped. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

async function allGone(pids: Iterable<number>, withinMs: number): Promise<number[]> {
  const deadline = Date.now() + withinMs;
  let left = [...pids].filter(alive);
  while (left.length && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    left = left.filter(alive);
  }
  return left;
}

describe("npm run dev (the dev stack, real Synapse)", function () {
  this.timeout(240_000);
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let synapsePort: number;
  let testnet: TestnetServer | undefined;
  const started: ChildProcess[] = [];
  const seen = new Set<number>();

  /** `npm run dev`, resolved once the banner is out, with what it printed so far. */
  async function startDev(): Promise<{ npm: ChildProcess; output: () => string }> {
    const npm = spawn("npm", ["run", "dev"], {
      cwd: REPO,
      env,
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    started.push(npm);
    let text = "";
    npm.stdout?.on("data", (c: Buffer) => {
      text += c.toString("utf8");
    });
    npm.stderr?.on("data", (c: Buffer) => {
      text += c.toString("utf8");
    });
    const deadline = Date.now() + 180_000;
    while (!/dev stack is up/.test(text)) {
      if (npm.exitCode !== null || npm.signalCode !== null || Date.now() > deadline)
        throw new Error(`npm run dev did not come up:\n${text.split("\n").slice(-40).join("\n")}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    for (const pid of descendants(npm.pid!).keys()) seen.add(pid);
    return { npm, output: () => text };
  }

  /** The node process running scripts/dev.ts under npm. */
  function devProcess(npm: ChildProcess): number {
    const found = [...descendants(npm.pid!)].find(([, cmd]) => cmd.includes("scripts/dev.ts"));
    assert.ok(found, "no scripts/dev.ts process under npm");
    return found[0];
  }

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "clawbridge-devstack-"));
    // As root, the embedded PostgreSQL runs as its own user, which must reach the data dir.
    chmodSync(dir, 0o755);
    synapsePort = await freePort();
    env = {
      ...process.env,
      CLAWBRIDGE_DEV_DIR: dir,
      CLAWBRIDGE_DEV_SYNAPSE_PORT: String(synapsePort),
      CLAWBRIDGE_DEV_BRIDGE_PORT: String(await freePort()),
      CLAWBRIDGE_DEV_MODEL_PORT: String(await freePort()),
      CLAWBRIDGE_DEV_MODEL: "0",
    };
  });

  after(async () => {
    // Whatever a failed test left running: every group this suite started, and anything seen.
    for (const npm of started) {
      try {
        process.kill(-npm.pid!, "SIGKILL");
      } catch {
        // gone
      }
    }
    for (const pid of seen) {
      try {
        if (alive(pid)) process.kill(pid, "SIGKILL");
      } catch {
        // gone
      }
    }
    await testnet?.close();
    if (process.env.KEEP_TEST_DIRS) process.stderr.write(`[devStack] kept ${dir}\n`);
    else rmSync(dir, { recursive: true, force: true });
  });

  it("stops Synapse, the bridge and its PostgreSQL within 10 s when npm gets SIGTERM", async () => {
    const { npm } = await startDev();
    const tree = descendants(npm.pid!);
    const commands = [...tree.values()].join("\n");
    assert.match(commands, /synapse\.app\.homeserver/);
    assert.match(commands, /src\/cli\.ts start/);
    assert.match(commands, /postgres/);
    process.kill(npm.pid!, "SIGTERM");
    const left = await allGone([npm.pid!, ...tree.keys()], 10_000);
    assert.deepEqual(
      left.map((p) => `${p} ${tree.get(p) ?? "npm"}`),
      [],
      "processes still running 10 s after SIGTERM",
    );
  });

  it("a second npm run dev says what holds the ports and how to stop it, prints no banner and exits non-zero", async () => {
    const { npm } = await startDev();
    const devPid = devProcess(npm);
    const second = spawnSync("npm", ["run", "dev"], { cwd: REPO, env, encoding: "utf8", timeout: 60_000 });
    const out = `${second.stdout}${second.stderr}`;
    assert.notEqual(second.status, 0, out);
    assert.match(out, new RegExp(`port ${synapsePort} \\(for Synapse\\) is in use by pid \\d+: .*synapse`));
    assert.match(out, new RegExp(`already running \\(pid ${devPid}\\).*kill ${devPid}`));
    assert.doesNotMatch(out, /dev stack is up|password/);

    // The first stack is untouched by the second attempt.
    const health = await fetch(`http://127.0.0.1:${synapsePort}/health`);
    assert.equal(health.status, 200);
  });

  it("when the dev process is killed (SIGKILL), its watchdog stops the orphaned stack", async () => {
    const npm = started.at(-1)!;
    const tree = descendants(npm.pid!);
    process.kill(devProcess(npm), "SIGKILL");
    // SIGTERM at once, SIGKILL after 10 s for what is still there.
    const left = await allGone([npm.pid!, ...tree.keys()], 15_000);
    assert.deepEqual(
      left.map((p) => `${p} ${tree.get(p) ?? "npm"}`),
      [],
      "orphans still running 15 s after the dev process died",
    );
  });

  it("enabling a platform in config.yaml regenerates the registration (tokens kept) before Synapse starts", async () => {
    testnet = await TestnetServer.start();
    const configPath = path.join(dir, "config.yaml");
    const regPath = path.join(dir, "registration.yaml");
    const before = load(readFileSync(regPath, "utf8")) as { as_token: string; hs_token: string };
    const config = load(readFileSync(configPath, "utf8")) as Record<string, unknown>;
    config.platforms = {
      testnet: {
        enabled: true,
        module: CONNECTOR,
        base_url: testnet.url,
        token: testnet.token,
        owner: "@demo:localhost",
      },
    };
    writeFileSync(configPath, dump(config));

    const { npm, output } = await startDev();
    assert.match(output(), /does not match .*_testnet_.*regenerating it, tokens kept/);
    const after = load(readFileSync(regPath, "utf8")) as {
      as_token: string;
      hs_token: string;
      namespaces: { users: Array<{ regex: string }> };
    };
    assert.deepEqual([after.as_token, after.hs_token], [before.as_token, before.hs_token]);
    assert.ok(after.namespaces.users.some((u) => new RegExp(u.regex).test("@_testnet_1:localhost")));
    // Synapse was started with it: it lets the bridge register a testnet ghost (was 400 M_EXCLUSIVE).
    const res = await fetch(`http://127.0.0.1:${synapsePort}/_matrix/client/v3/register`, {
      method: "POST",
      headers: { authorization: `Bearer ${after.as_token}`, "content-type": "application/json" },
      // inhibit_login: with MSC4190 (io.element.msc4190) the homeserver makes no session for it.
      body: JSON.stringify({
        type: "m.login.application_service",
        username: "_testnet_probe",
        inhibit_login: true,
      }),
    });
    assert.equal(res.status, 200, await res.text());
    // Encrypted rooms work out of the box: the config allows them, and the homeserver runs with
    // the registration's MSC4190 (it refuses appservice logins).
    assert.equal((config as { encryption?: { allow?: boolean } }).encryption?.allow, true);
    const login = await fetch(`http://127.0.0.1:${synapsePort}/_matrix/client/v3/login`, {
      method: "POST",
      headers: { authorization: `Bearer ${after.as_token}`, "content-type": "application/json" },
      body: JSON.stringify({
        type: "m.login.application_service",
        identifier: { type: "m.id.user", user: "_testnet_probe" },
      }),
    });
    assert.equal(login.status, 400);
    assert.equal(((await login.json()) as { errcode?: string }).errcode, "M_APPSERVICE_LOGIN_UNSUPPORTED");

    const tree = descendants(npm.pid!);
    process.kill(npm.pid!, "SIGINT");
    assert.deepEqual(await allGone([npm.pid!, ...tree.keys()], 10_000), [], "still running after SIGINT");
  });
});

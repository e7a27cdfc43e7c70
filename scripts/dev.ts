/**
 * `npm run dev`: a local stack on a fresh machine — Synapse (venv created if needed) on 127.0.0.1:8008 and the
 * bridge on 127.0.0.1:29330 with embedded PostgreSQL, all state in `.dev/`, and a tiny local model for the AI
 * user (SmolLM2-135M behind an OpenAI-compatible server on 127.0.0.1:29331; CLAWBRIDGE_DEV_MODEL=0 leaves it
 * out). Prints how to log in, then runs until Ctrl-C / SIGINT / SIGTERM / SIGHUP and shuts everything down.
 *
 * Environment: CLAWBRIDGE_DEV_DIR (state, default `.dev/`), CLAWBRIDGE_DEV_SYNAPSE_PORT,
 * CLAWBRIDGE_DEV_BRIDGE_PORT, CLAWBRIDGE_DEV_MODEL_PORT (used when the config is first written;
 * later runs take the ports from `<dir>/config.yaml`), CLAWBRIDGE_DEV_MODEL=0.
 */
import "../src/requireSupportedNode";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { dump } from "js-yaml";
import { LlamaBackend } from "../spec/standins/llm/LlamaBackend";
import { OpenAIStandin } from "../spec/standins/llm/OpenAIStandin";
import { loadConfig } from "../src/config/Config";
import { registrationFileProblems } from "../src/config/registrationCheck";
import type { BridgeConfig } from "../src/config/types";
import { BridgeProcess } from "./lib/bridgeProcess";
import { portBusy, whoListens } from "./lib/ports";
import { ensureSynapseVenv, REPO_ROOT, SynapseServer } from "./lib/synapse";

const DEV_DIR = path.resolve(process.env.CLAWBRIDGE_DEV_DIR || path.join(REPO_ROOT, ".dev"));
const PID_FILE = path.join(DEV_DIR, "dev.pid");
const WANT_MODEL = process.env.CLAWBRIDGE_DEV_MODEL !== "0";

function envPort(name: string, fallback: number): number {
  const raw = process.env[name];
  if (!raw) return fallback;
  const port = Number(raw);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) {
    process.stderr.write(`[dev] ${name}=${raw} is not a TCP port (1-65535)\n`);
    process.exit(2);
  }
  return port;
}
const SYNAPSE_PORT = envPort("CLAWBRIDGE_DEV_SYNAPSE_PORT", 8008);
const BRIDGE_PORT = envPort("CLAWBRIDGE_DEV_BRIDGE_PORT", 29330);
const MODEL_PORT = envPort("CLAWBRIDGE_DEV_MODEL_PORT", 29331);

function say(line: string): void {
  process.stderr.write(`[dev] ${line}\n`);
}

/** Writes `.dev/config.yaml` on first run; later runs keep the (possibly hand-edited) file. */
function ensureConfig(configPath: string, registrationPath: string): void {
  if (existsSync(configPath)) return;
  const config = {
    homeserver: { url: `http://127.0.0.1:${SYNAPSE_PORT}`, domain: "localhost" },
    appservice: {
      id: "clawbridge",
      url: `http://127.0.0.1:${BRIDGE_PORT}`,
      bind_address: "127.0.0.1",
      port: BRIDGE_PORT,
      registration: registrationPath,
    },
    bridge: { permissions: { localhost: "admin" } },
    // Element encrypts new DMs and private rooms by default: the bridge answers there too. The
    // dev Synapse has the experimental features this needs (scripts/lib/synapse.ts).
    encryption: { allow: true },
    // The web page at /_clawbridge/ui/ (sign in with the dev user's access token).
    web: { enabled: true },
    // No url: the bridge starts an embedded PostgreSQL in data_dir.
    database: { data_dir: path.join(DEV_DIR, "data") },
    logging: { level: "info", format: "pretty" },
    // The dev model: tiny and local, enough to try the AI user. Put a real provider here
    // (see config.sample.yaml, ai.providers) for useful answers.
    ai: {
      providers: {
        local: { kind: "openai", base_url: `http://127.0.0.1:${MODEL_PORT}/v1`, model: "smollm2-135m" },
      },
    },
  };
  const header = "# Dev stack config written by `npm run dev` (scripts/dev.ts). Edit freely; it is kept.\n";
  writeFileSync(configPath, header + dump(config), { mode: 0o600 });
  say(`wrote ${configPath}`);
}

/**
 * Runs `clawbridge generate-registration` through the CLI when the registration file does not
 * exist yet, and again (keeping its tokens) when it no longer covers the config — a platform
 * enabled or a prefix changed in config.yaml — so that Synapse, which reads it only at start,
 * is started with what the bridge will use.
 */
async function ensureRegistration(
  config: BridgeConfig,
  configPath: string,
  registrationPath: string,
): Promise<void> {
  let extra: string[] = [];
  if (existsSync(registrationPath)) {
    const problems = registrationFileProblems(config, registrationPath);
    if (!problems.length) return;
    say(
      `${registrationPath} does not match ${configPath} (${problems.join("; ")}): regenerating it, tokens kept`,
    );
    extra = ["--force", "--keep-tokens"];
  }
  const args = [
    "--require",
    require.resolve("tsx/cjs"),
    path.join(REPO_ROOT, "src", "cli.ts"),
    "generate-registration",
    "-c",
    configPath,
    "-f",
    registrationPath,
    ...extra,
  ];
  const code = await new Promise<number>((resolve) => {
    const child = spawn(process.execPath, args, { cwd: REPO_ROOT, stdio: ["ignore", "inherit", "inherit"] });
    child.on("error", () => resolve(-1));
    child.on("exit", (c) => resolve(c ?? -1));
  });
  if (code !== 0 || !existsSync(registrationPath)) {
    throw new Error(`clawbridge generate-registration failed (exit ${code})`);
  }
  say(`wrote ${registrationPath}`);
}

/** The ports this run will listen on: from the config once it exists (it may have been edited). */
function devPorts(config: BridgeConfig): Array<{ port: number; what: string }> {
  const hsPort = Number(new URL(config.homeserver.url).port) || SYNAPSE_PORT;
  const modelUrl = config.ai.providers.local?.base_url;
  const modelPort = (modelUrl && Number(new URL(modelUrl).port)) || MODEL_PORT;
  const ports = [
    { port: hsPort, what: "Synapse" },
    { port: config.appservice.port, what: "the bridge" },
  ];
  if (WANT_MODEL) ports.push({ port: modelPort, what: "the dev model" });
  return ports;
}

/** The pid of a dev stack running on this state dir, if its pid file names a live process. */
function runningDevStack(): number | undefined {
  try {
    const pid = Number(readFileSync(PID_FILE, "utf8").trim());
    if (!Number.isInteger(pid) || pid <= 1 || pid === process.pid) return undefined;
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}

/**
 * Fails before anything starts when a port is taken, saying by what and how to stop it: a
 * second `npm run dev` must not report the first one's bridge as its own.
 */
async function checkPorts(config: BridgeConfig): Promise<void> {
  const busy: string[] = [];
  for (const { port, what } of devPorts(config)) {
    if (!(await portBusy(port))) continue;
    const who = whoListens(port);
    busy.push(
      `port ${port} (for ${what}) is in use${who ? ` by pid ${who.pid}: ${who.command.slice(0, 160)}` : ""}`,
    );
  }
  if (!busy.length) return;
  for (const line of busy) say(line);
  const dev = runningDevStack();
  say(
    dev
      ? `the dev stack of ${DEV_DIR} is already running (pid ${dev}): use it, or stop it with Ctrl-C in its terminal or \`kill ${dev}\``
      : "stop that process, or give this stack other ports: CLAWBRIDGE_DEV_DIR=<new dir> with CLAWBRIDGE_DEV_SYNAPSE_PORT, CLAWBRIDGE_DEV_BRIDGE_PORT, CLAWBRIDGE_DEV_MODEL_PORT",
  );
  process.exit(1);
}

/** The demo user's password: generated once, kept in `<dev dir>/demo-password`. */
function demoPassword(): string {
  const file = path.join(DEV_DIR, "demo-password");
  if (!existsSync(file)) writeFileSync(file, randomBytes(12).toString("base64url"), { mode: 0o600 });
  return readFileSync(file, "utf8").trim();
}

let synapse: SynapseServer | undefined;
let bridge: BridgeProcess | undefined;
let model: { close(): Promise<void> } | undefined;

/**
 * SmolLM2-135M (fetched into the cache on first use, with its runtime) behind the project's
 * OpenAI-compatible model server. A failure leaves the stack up: the AI then answers with a
 * notice that its provider is unreachable.
 */
async function startModel(port: number): Promise<string> {
  const llama = await LlamaBackend.load({ defaultMaxTokens: 256 });
  const server = await OpenAIStandin.start({ port, backend: llama.backend });
  model = {
    close: async () => {
      await server.close();
      await llama.dispose();
    },
  };
  return `SmolLM2-135M on ${server.baseUrl}`;
}
let shuttingDown = false;

/** Stops the bridge, then Synapse (each waits for its process to exit), then exits with `code`. */
async function shutdown(code: number): Promise<never> {
  if (!shuttingDown) {
    shuttingDown = true;
    say("shutting down…");
    await bridge?.stop();
    await synapse?.stop();
    await model?.close().catch(() => undefined);
    if (readPidFile() === process.pid) rmSync(PID_FILE, { force: true });
  }
  process.exit(code);
}

function readPidFile(): number | undefined {
  try {
    return Number(readFileSync(PID_FILE, "utf8").trim());
  } catch {
    return undefined;
  }
}

async function main(): Promise<void> {
  const started = Date.now();
  // From here on a signal stops whatever has been started so far.
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(signal, () => void shutdown(0));
  mkdirSync(DEV_DIR, { recursive: true });
  const configPath = path.join(DEV_DIR, "config.yaml");
  const registrationPath = path.join(DEV_DIR, "registration.yaml");
  ensureConfig(configPath, registrationPath);
  const config = loadConfig(configPath);
  await checkPorts(config);
  writeFileSync(PID_FILE, `${process.pid}\n`);
  const python = await ensureSynapseVenv();
  await ensureRegistration(config, configPath, registrationPath);

  const synapsePort = devPorts(config)[0].port;
  say(`starting Synapse on 127.0.0.1:${synapsePort} (state in ${path.join(DEV_DIR, "synapse")})`);
  synapse = await SynapseServer.start({
    dir: path.join(DEV_DIR, "synapse"),
    port: synapsePort,
    registrationFiles: [registrationPath],
    python,
  });

  const password = demoPassword();
  try {
    await synapse.registerUser("demo", { password, displayName: "Demo" });
    say("registered @demo:localhost");
  } catch (err) {
    if (!/M_USER_IN_USE/.test(String(err))) throw err;
  }

  let modelLine = " AI model: none (CLAWBRIDGE_DEV_MODEL=0)";
  if (WANT_MODEL) {
    say("starting the dev model (SmolLM2-135M; fetched into ~/.cache/clawbridge on first run)");
    try {
      modelLine = ` AI model: ${await startModel(devPorts(config)[2].port)}`;
    } catch (err) {
      modelLine = " AI model: could not start (the AI will answer with an error notice)";
      say(`the dev model did not start: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  say(`starting the bridge on 127.0.0.1:${config.appservice.port}`);
  bridge = await BridgeProcess.start({ configPath, registrationPath, echo: true, healthTimeoutMs: 60_000 });
  void bridge.waitForExit().then((exit) => {
    if (shuttingDown) return;
    say(`the bridge exited (${exit.signal ?? `code ${exit.code}`}); see ${bridge?.logPath}`);
    void shutdown(1);
  });

  const banner = [
    "",
    "────────────────────────────────────────────────────────────────────",
    ` clawbridge dev stack is up (${((Date.now() - started) / 1000).toFixed(1)} s)`,
    `   homeserver: ${synapse.url}`,
    "   user:       @demo:localhost",
    `   password:   ${password}`,
    " Log in with any Matrix client (e.g. Element, custom homeserver above),",
    " invite @clawbridge:localhost to a room or start a DM with it and write `help`.",
    ` Web page: http://127.0.0.1:${BRIDGE_PORT}/_clawbridge/ui/`,
    " Start a DM with @ai:localhost (or invite it to a room and mention it) to talk to the AI.",
    modelLine,
    ` Logs: ${bridge.logPath}, ${path.join(DEV_DIR, "synapse", "homeserver.log")}. Ctrl-C stops everything.`,
    "────────────────────────────────────────────────────────────────────",
    "",
  ];
  process.stdout.write(banner.join("\n"));
}

main().catch((err: unknown) => {
  process.stderr.write(`[dev] failed: ${err instanceof Error ? err.message : String(err)}\n`);
  void shutdown(1);
});

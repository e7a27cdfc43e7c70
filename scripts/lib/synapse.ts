import { type ChildProcess, spawn } from "node:child_process";
import { createHmac, randomBytes } from "node:crypto";
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { dump } from "js-yaml";
import { SYNAPSE_ENCRYPTION_FEATURES } from "../../src/config/registration";
import { registerLog } from "./logRegistry";
import { guardGroup, signalGroup } from "./orphanGuard";
import { freePort } from "./ports";

/** Root of the clawbridge checkout (this file lives in scripts/lib). */
export const REPO_ROOT = path.resolve(__dirname, "..", "..");
/** The Synapse release line the project is tested against. */
export const SYNAPSE_SPEC = "matrix-synapse==1.163.*";

const HEALTH_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 10_000;

function progress(line: string): void {
  process.stderr.write(`[synapse] ${line}\n`);
}

/** Runs a command to completion; resolves with its exit code and captured output. */
function run(
  cmd: string,
  args: string[],
  opts: { stream?: boolean; cwd?: string } = {},
): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    const onData = (chunk: Buffer) => {
      output += chunk.toString("utf8");
      if (opts.stream) process.stderr.write(chunk);
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("error", (err) => resolve({ code: -1, output: output + String(err) }));
    child.on("close", (code) => resolve({ code: code ?? -1, output }));
  });
}

/** Returns the Synapse version importable by `python`, or undefined when it is not importable. */
async function synapseVersion(python: string): Promise<string | undefined> {
  if (!existsSync(python)) return undefined;
  const { code, output } = await run(python, ["-c", "import synapse; print(synapse.__version__)"]);
  return code === 0 ? output.trim() : undefined;
}

/**
 * Finds a Python virtualenv with Synapse installed and returns the path of its python binary.
 * Looks at `$SYNAPSE_VENV`, then `<repo>/.venv-synapse`, then `~/.cache/clawbridge/venv-synapse`; when none of
 * them can import synapse, creates `<repo>/.venv-synapse` (`python3 -m venv` + `pip install matrix-synapse==1.163.*`).
 */
export async function ensureSynapseVenv(): Promise<string> {
  const candidates = [
    process.env.SYNAPSE_VENV,
    path.join(REPO_ROOT, ".venv-synapse"),
    path.join(os.homedir(), ".cache", "clawbridge", "venv-synapse"),
  ].filter((c): c is string => typeof c === "string" && c.length > 0);
  for (const venv of candidates) {
    const python = path.join(venv, "bin", "python");
    const version = await synapseVersion(python);
    if (version !== undefined) {
      if (!version.startsWith("1.163."))
        progress(`warning: ${venv} has Synapse ${version}, tested with 1.163`);
      return python;
    }
  }
  const venv = path.join(REPO_ROOT, ".venv-synapse");
  const started = Date.now();
  progress(`no Synapse found (looked in ${candidates.join(", ")}); creating ${venv}`);
  const base = process.env.PYTHON ?? "python3";
  const mk = await run(base, ["-m", "venv", "--clear", venv], { stream: true });
  if (mk.code !== 0) throw new Error(`${base} -m venv ${venv} failed (exit ${mk.code})`);
  const python = path.join(venv, "bin", "python");
  progress(`installing ${SYNAPSE_SPEC} (wheels; takes a minute or two)`);
  const pip = await run(
    python,
    ["-m", "pip", "install", "--disable-pip-version-check", "--progress-bar", "off", SYNAPSE_SPEC],
    { stream: true },
  );
  if (pip.code !== 0) throw new Error(`pip install ${SYNAPSE_SPEC} failed (exit ${pip.code})`);
  const version = await synapseVersion(python);
  if (version === undefined) throw new Error(`synapse is still not importable from ${python}`);
  progress(`Synapse ${version} installed in ${venv} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return python;
}

/** Options of {@link SynapseServer.start}. */
export interface SynapseStartOptions {
  /** Working directory holding config, signing key, sqlite database, media and logs. Reused across starts. */
  dir: string;
  /** Only "localhost" is supported: ids in tests are `@x:localhost`. */
  serverName?: "localhost";
  /** HTTP port on 127.0.0.1; 0 or absent picks a free one. */
  port?: number;
  /**
   * Appservice registration files (absolute or relative to the cwd). Synapse reads them only when it starts:
   * a registration written or changed later takes effect only after {@link SynapseServer.restart}.
   */
  registrationFiles: string[];
  /** Python with Synapse installed; default: {@link ensureSynapseVenv}. */
  python?: string;
  /**
   * The experimental features encrypted rooms need (to-device messages, key counts and device
   * lists in appservice transactions). Default true; false starts a homeserver configured as
   * before encryption, to test what notices their absence.
   */
  encryption?: boolean;
}

/** A user registered with the shared-secret admin API. */
export interface RegisteredUser {
  userId: string;
  accessToken: string;
  password: string;
}

/** Ratelimiter keys Synapse 1.163 reads (synapse/config/ratelimiting.py), all raised so tests never hit them. */
const RATELIMIT_KEYS = [
  "rc_message",
  "rc_registration",
  "rc_registration_token_validity",
  "rc_login.address",
  "rc_login.account",
  "rc_login.failed_attempts",
  "rc_admin_redaction",
  "rc_joins.local",
  "rc_joins.remote",
  "rc_joins_per_room",
  "rc_key_requests",
  "rc_3pid_validation",
  "rc_invites.per_room",
  "rc_invites.per_user",
  "rc_invites.per_issuer",
  "rc_third_party_invite",
  "rc_media_create",
  "rc_presence.per_user",
  "rc_delayed_event_mgmt",
  "rc_room_creation",
  "rc_reports",
  "rc_user_directory",
  "rc_profile",
];

function ratelimitOverrides(): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  const high = { per_second: 100_000, burst_count: 1_000_000 };
  for (const key of RATELIMIT_KEYS) {
    const [top, sub] = key.split(".");
    if (sub === undefined) out[top] = { ...high };
    else out[top] = { ...(out[top] ?? {}), [sub]: { ...high } };
  }
  return out;
}

function tail(text: string, lines = 40): string {
  return text.split("\n").slice(-lines).join("\n");
}

/** A Synapse homeserver running as a child process, bound to 127.0.0.1 only. */
export class SynapseServer {
  /** Client-server API base URL, e.g. `http://127.0.0.1:8008`. */
  readonly url: string;
  /** Matrix server name (the part after the colon in user ids). */
  readonly serverName: string;
  /** `registration_shared_secret` for the admin register API; generated once per dir, never logged. */
  readonly sharedSecret: string;
  /** How long the last start took until `/health` answered, in milliseconds. */
  lastStartMs = 0;

  private child: ChildProcess | undefined;
  private stdio = "";

  private constructor(
    readonly dir: string,
    readonly port: number,
    private readonly python: string,
    serverName: string,
    sharedSecret: string,
  ) {
    this.url = `http://127.0.0.1:${port}`;
    this.serverName = serverName;
    this.sharedSecret = sharedSecret;
  }

  /** Generates config on first use of `dir`, writes the overrides, starts Synapse and waits for `/health`. */
  static async start(opts: SynapseStartOptions): Promise<SynapseServer> {
    const dir = path.resolve(opts.dir);
    const serverName = opts.serverName ?? "localhost";
    mkdirSync(dir, { recursive: true });
    const python = opts.python ?? (await ensureSynapseVenv());
    const mainConfig = path.join(dir, "homeserver.yaml");
    if (!existsSync(mainConfig)) {
      const gen = await run(
        python,
        [
          "-m",
          "synapse.app.homeserver",
          "--server-name",
          serverName,
          "--report-stats=no",
          "--generate-config",
          "--config-path",
          mainConfig,
          "--data-directory",
          dir,
        ],
        { cwd: dir },
      );
      if (gen.code !== 0) throw new Error(`synapse --generate-config failed:\n${tail(gen.output)}`);
    }
    const secretFile = path.join(dir, "shared-secret");
    if (!existsSync(secretFile)) writeFileSync(secretFile, randomBytes(32).toString("hex"), { mode: 0o600 });
    const sharedSecret = readFileSync(secretFile, "utf8").trim();
    const port = opts.port && opts.port > 0 ? opts.port : await freePort();
    const server = new SynapseServer(dir, port, python, serverName, sharedSecret);
    server.writeOverrides(
      opts.registrationFiles.map((f) => path.resolve(f)),
      opts.encryption ?? true,
    );
    await server.launch();
    return server;
  }

  private get logFile(): string {
    return path.join(this.dir, "homeserver.log");
  }

  private writeOverrides(registrationFiles: string[], encryption: boolean): void {
    const logConfig = path.join(this.dir, "log.config.yaml");
    const logging = {
      version: 1,
      formatters: {
        precise: { format: "%(asctime)s - %(name)s - %(levelname)s - %(request)s - %(message)s" },
      },
      handlers: {
        file: {
          class: "logging.FileHandler",
          formatter: "precise",
          filename: this.logFile,
          encoding: "utf8",
        },
      },
      loggers: { "synapse.storage.SQL": { level: "WARNING" } },
      root: { level: "WARNING", handlers: ["file"] },
      disable_existing_loggers: false,
    };
    writeFileSync(logConfig, dump(logging));
    const overrides = {
      pid_file: path.join(this.dir, "homeserver.pid"),
      listeners: [
        {
          port: this.port,
          bind_addresses: ["127.0.0.1"],
          type: "http",
          tls: false,
          x_forwarded: false,
          // openid: the web page's sign-in checks OpenID tokens at /_matrix/federation/v1/openid/userinfo.
          resources: [{ names: ["client", "openid"], compress: false }],
        },
      ],
      database: { name: "sqlite3", args: { database: path.join(this.dir, "homeserver.db") } },
      log_config: logConfig,
      media_store_path: path.join(this.dir, "media_store"),
      app_service_config_files: registrationFiles,
      enable_registration: false,
      enable_registration_without_verification: true,
      registration_shared_secret: this.sharedSecret,
      bcrypt_rounds: 4,
      trusted_key_servers: [],
      suppress_key_server_warning: true,
      report_stats: false,
      enable_metrics: false,
      url_preview_enabled: false,
      presence: { enabled: false },
      max_upload_size: "100M",
      // Single server: nothing to federate with, and nothing else should be contacted.
      federation_domain_whitelist: [],
      ...(encryption ? { experimental_features: { ...SYNAPSE_ENCRYPTION_FEATURES } } : {}),
      ...ratelimitOverrides(),
    };
    writeFileSync(path.join(this.dir, "overrides.yaml"), dump(overrides), { mode: 0o600 });
  }

  private async launch(): Promise<void> {
    if (this.child) throw new Error("Synapse is already running");
    const started = Date.now();
    this.stdio = "";
    const stdioFile = path.join(this.dir, "synapse-stdio.log");
    const child = spawn(
      this.python,
      ["-m", "synapse.app.homeserver", "-c", "homeserver.yaml", "-c", "overrides.yaml"],
      // Its own process group: see orphanGuard.
      { cwd: this.dir, stdio: ["ignore", "pipe", "pipe"], detached: true },
    );
    this.child = child;
    const release = guardGroup(child);
    registerLog(`Synapse (pid ${child.pid}) stdout/stderr`, stdioFile);
    registerLog(`Synapse (pid ${child.pid})`, this.logFile);
    const onData = (chunk: Buffer) => {
      const text = chunk.toString("utf8");
      this.stdio = tail(this.stdio + text, 200);
      appendFileSync(stdioFile, text);
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    let exited: string | undefined;
    child.once("exit", (code, signal) => {
      exited = `exited with ${signal ?? code}`;
      if (this.child === child) this.child = undefined;
      release();
    });
    const deadline = started + HEALTH_TIMEOUT_MS;
    while (true) {
      if (exited !== undefined) throw new Error(`Synapse ${exited} while starting\n${this.logTail()}`);
      if (Date.now() > deadline) {
        this.kill();
        throw new Error(`Synapse did not answer ${this.url}/health within 60 s\n${this.logTail()}`);
      }
      try {
        const res = await fetch(`${this.url}/health`, { signal: AbortSignal.timeout(2000) });
        if (res.status === 200) break;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    this.lastStartMs = Date.now() - started;
    progress(`Synapse up at ${this.url} in ${(this.lastStartMs / 1000).toFixed(1)} s (dir ${this.dir})`);
  }

  /** The last lines of Synapse's log file and of its stdout/stderr, for error messages. */
  logTail(lines = 40): string {
    const log = existsSync(this.logFile) ? tail(readFileSync(this.logFile, "utf8"), lines) : "(no log file)";
    return `--- ${this.logFile} (tail) ---\n${log}\n--- stdout/stderr (tail) ---\n${tail(this.stdio, lines)}`;
  }

  /** True while the child process is alive. */
  get running(): boolean {
    return this.child !== undefined;
  }

  /** SIGTERM, wait for exit; SIGKILL if it has not exited after 10 s. No-op if not running. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    const gone = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill("SIGTERM");
    const timer = setTimeout(() => signalGroup(child, "SIGKILL"), STOP_GRACE_MS);
    await gone;
    clearTimeout(timer);
  }

  /** SIGKILL without waiting for a clean shutdown (a crash). */
  kill(): void {
    this.child?.kill("SIGKILL");
  }

  /** Stops Synapse (if running) and starts it again on the same port and dir, with the same registrations. */
  async restart(): Promise<void> {
    await this.stop();
    await this.launch();
  }

  /** Starts Synapse again after {@link stop} or {@link kill} (same port, dir and registrations). */
  async startAgain(): Promise<void> {
    if (!this.child) await this.launch();
  }

  /** Registers a user with the shared-secret admin API; a random password is generated when none is given. */
  async registerUser(
    localpart: string,
    opts: { admin?: boolean; password?: string; displayName?: string } = {},
  ): Promise<RegisteredUser> {
    const password = opts.password ?? randomBytes(18).toString("base64url");
    const endpoint = `${this.url}/_synapse/admin/v1/register`;
    const nonceRes = await fetch(endpoint);
    if (!nonceRes.ok) throw new Error(`GET ${endpoint}: ${nonceRes.status} ${await nonceRes.text()}`);
    const { nonce } = (await nonceRes.json()) as { nonce: string };
    const admin = opts.admin ?? false;
    const mac = createHmac("sha1", this.sharedSecret)
      .update(`${nonce}\0${localpart}\0${password}\0${admin ? "admin" : "notadmin"}`)
      .digest("hex");
    const res = await fetch(endpoint, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        nonce,
        username: localpart,
        password,
        admin,
        mac,
        displayname: opts.displayName,
      }),
    });
    const body = (await res.json()) as {
      user_id?: string;
      access_token?: string;
      errcode?: string;
      error?: string;
    };
    if (!res.ok || !body.user_id || !body.access_token) {
      throw new Error(
        `registering ${localpart} failed: ${res.status} ${body.errcode ?? ""} ${body.error ?? ""}`,
      );
    }
    return { userId: body.user_id, accessToken: body.access_token, password };
  }
}

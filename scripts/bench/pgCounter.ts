/**
 * Counts write transactions in a bridge's embedded PostgreSQL: every transaction that writes
 * takes a transaction id (and pays a commit, a WAL flush), read-only ones do not. The id
 * counter moves at once, unlike the statistics views, so the difference between two readings
 * is exact: a load-independent figure next to the CPU times.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import pg from "pg";

export class PgCounter {
  private constructor(private readonly client: pg.Client) {}

  /** Connects with the credentials and port the bridge's running cluster left in `dataDir`. */
  static async open(dataDir: string): Promise<PgCounter> {
    const creds = JSON.parse(readFileSync(path.join(dataDir, "postgres.credentials"), "utf8")) as {
      user: string;
      password: string;
    };
    const pid = readFileSync(path.join(dataDir, "postgres", "postmaster.pid"), "utf8").split("\n");
    const client = new pg.Client({
      host: "127.0.0.1",
      port: Number(pid[3]),
      user: creds.user,
      password: creds.password,
      database: "clawbridge",
    });
    await client.connect();
    return new PgCounter(client);
  }

  /** The next transaction id; each reading itself takes one, which {@link since} subtracts. */
  async read(): Promise<number> {
    const r = await this.client.query<{ x: string }>("SELECT pg_current_xact_id()::text AS x");
    return Number(r.rows[0]!.x);
  }

  /** Write transactions of others since `start` (a reading taken earlier with {@link read}). */
  async since(start: number): Promise<number> {
    return (await this.read()) - start - 1;
  }

  /**
   * Rows inserted, updated and deleted so far, per table (PostgreSQL's cumulative statistics).
   * Approximate over a short span: a busy backend reports its counts at most once a second, an
   * idle one up to 10 s late, so some of a mix's rows may be counted in the next one.
   */
  async rowWrites(): Promise<Record<string, number>> {
    await this.client.query("SELECT pg_stat_clear_snapshot()");
    const r = await this.client.query<{ t: string; n: string }>(
      "SELECT relname AS t, (n_tup_ins + n_tup_upd + n_tup_del)::text AS n FROM pg_stat_user_tables",
    );
    return Object.fromEntries(r.rows.map((x) => [x.t, Number(x.n)]));
  }

  async close(): Promise<void> {
    await this.client.end();
  }
}

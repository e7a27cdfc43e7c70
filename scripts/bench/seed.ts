/**
 * Fills a bridge's database before it starts, with plain SQL: `portals` portal rows (Telegram
 * groups, each with its own room id) and `ghosts` registered ghosts spread over those rooms.
 * The bridge must not be running (its embedded PostgreSQL is started here and stopped again).
 */
import { loginId } from "../../src/core/ConnectorRegistry";
import { Logger } from "../../src/log/Logger";
import { openDatabase } from "../../src/store/Database";
import { Migrator } from "../../src/store/Migrator";

/** Chat id and room id of the k-th seeded portal. */
export const seededChat = (k: number): number => -1_002_000_000_000 - k;
export const seededRoom = (k: number): string => `!seed${k}:localhost`;
/** The j-th ghost (0-based) of the seeded portal k; ghosts are dealt out round-robin. */
export const seededGhost = (g: number): string => `@_telegram_${100_000_000 + g}:localhost`;

const SQL_SEED_PORTALS = `INSERT INTO portal (platform, chat_id, room_id, login_id, kind, name, linked)
  SELECT 'telegram', (-1002000000000 - g)::text, '!seed' || g || ':localhost', $1, 'group', 'Seeded group ' || g, false
  FROM generate_series(0, $2::int - 1) AS g
  ON CONFLICT DO NOTHING`;
const SQL_SEED_GHOSTS = `INSERT INTO ghost (mxid, platform, remote_id, display_name, registered)
  SELECT '@_telegram_' || (100000000 + g) || ':localhost', 'telegram', (100000000 + g)::text, 'Seeded user ' || g, true
  FROM generate_series(0, $1::int - 1) AS g
  ON CONFLICT DO NOTHING`;
const SQL_SEED_GHOST_ROOMS = `INSERT INTO ghost_room (mxid, room_id)
  SELECT '@_telegram_' || (100000000 + g) || ':localhost', '!seed' || (g % $2::int) || ':localhost'
  FROM generate_series(0, $1::int - 1) AS g
  ON CONFLICT DO NOTHING`;

export async function seedDatabase(o: {
  dataDir: string;
  owner: string;
  botToken: string;
  portals: number;
  ghosts: number;
}): Promise<{ ms: number }> {
  const t0 = performance.now();
  const db = await openDatabase({
    dataDir: o.dataDir,
    embeddedPort: 0,
    maxConnections: 2,
    log: new Logger("BenchSeed"),
  });
  try {
    await new Migrator({ pool: db.pool }).migrate();
    const login = loginId("telegram", {
      platform: "telegram",
      ownerMxid: o.owner,
      remoteId: o.botToken.split(":")[0],
      credentials: {},
    });
    await db.pool.query(SQL_SEED_PORTALS, [login, o.portals]);
    await db.pool.query(SQL_SEED_GHOSTS, [o.ghosts]);
    await db.pool.query(SQL_SEED_GHOST_ROOMS, [o.ghosts, o.portals]);
    await db.pool.query("VACUUM ANALYZE");
  } finally {
    await db.close();
  }
  return { ms: performance.now() - t0 };
}

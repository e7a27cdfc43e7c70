/**
 * The real bridge CLI with the WhatsApp connector enabled, on the shared Synapse, against the
 * wire-level WhatsApp stand-in, with its state in a PostgreSQL database of this suite.
 *
 * A device already linked for alice is stored first (credentials and login row), as a finished
 * QR login leaves it. The bridge process trusts the stand-in's certificate root through the
 * `trustRoot.ts` preload (NODE_OPTIONS): no product setting can turn the check off.
 */
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { dump } from "js-yaml";
import pg from "pg";
import { pgAuthState } from "../../../bridges/whatsapp/PgAuthState";
import { escapeLocalpart } from "../../../src/config/ids";
import { loginId } from "../../../src/core/ConnectorRegistry";
import type { ConnectorStore } from "../../../src/core/connector";
import { Migrator } from "../../../src/store/Migrator";
import { PgStore } from "../../../src/store/PgStore";
import { BridgeProcess } from "../../harness/BridgeProcess";
import { createTestDatabase, startExternalPostgres, type TestPostgres } from "../../harness/postgres";
import { RIG_APPSERVICE_ID, RIG_DOMAIN, type SharedRig, sharedRig } from "../../harness/synapse";
import { WhatsAppServer } from "../../standins/whatsapp/WhatsAppServer";

const TRUST_ROOT = path.resolve(__dirname, "../../standins/whatsapp/trustRoot.ts");

export interface WaRig {
  rig: SharedRig;
  wa: WhatsAppServer;
  bridge: BridgeProcess;
  pool: pg.Pool;
  /** The bridge's config file: a test may rewrite it before a restart. */
  configPath: string;
  restart(signal?: NodeJS.Signals): Promise<void>;
  stop(): Promise<void>;
}

/** The portal alias of a WhatsApp chat id. */
export const waAlias = (chatId: string) => `#_whatsapp_${escapeLocalpart(chatId)}:${RIG_DOMAIN}`;
export const waGhost = (number: string) => `@_whatsapp_${escapeLocalpart(number)}:${RIG_DOMAIN}`;

/** A database of this suite, migrated, with a device already linked for `owner` stored in it. */
export async function prepareDatabase(opts: { owner: string; number: string; name: string }): Promise<{
  url: string;
  pool: pg.Pool;
  drop(): Promise<void>;
}> {
  const server: TestPostgres = await startExternalPostgres();
  const db = await createTestDatabase(server.url);
  const pool = new pg.Pool({ connectionString: db.url, max: 2 });
  await new Migrator({ pool }).migrate();
  const store: ConnectorStore = {
    query: async (sql, params) => (await pool.query(sql, params)).rows,
    kvGet: async () => undefined,
    kvSet: async () => undefined,
  };
  const authKey = `e2e-${opts.number}`;
  const auth = await pgAuthState(store, authKey);
  auth.state.creds.me = { id: `${opts.number}:1@s.whatsapp.net`, name: opts.name };
  auth.state.creds.registered = true;
  auth.state.creds.accountSyncCounter = 1;
  await auth.saveCreds();
  const login = {
    platform: "whatsapp",
    ownerMxid: opts.owner,
    remoteId: opts.number,
    credentials: { auth_key: authKey },
  };
  await new PgStore(pool).upsertLogin({ ...login, id: loginId("whatsapp", login) });
  return {
    url: db.url,
    pool,
    async drop() {
      await pool.end();
      await db.drop();
      await server.stop();
    },
  };
}

/** The bridge config of these suites (permissions: alice admin, bob user). */
export function bridgeConfig(
  rig: SharedRig,
  databaseUrl: string,
  waUrl: string,
  /** Sections added (the AI's, say). */
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    ...extra,
    homeserver: { url: rig.synapse.url, domain: RIG_DOMAIN },
    appservice: {
      id: RIG_APPSERVICE_ID,
      url: `http://127.0.0.1:${rig.bridgePort}`,
      bind_address: "127.0.0.1",
      port: rig.bridgePort,
      registration: rig.registrationPath,
    },
    bridge: {
      bot: { localpart: "clawbridge", displayname: "Clawbridge test bot" },
      command_prefix: "!cb",
      permissions: { [`@alice:${RIG_DOMAIN}`]: "admin", [`@bob:${RIG_DOMAIN}`]: "user" },
    },
    database: { url: databaseUrl },
    delivery: { initial_backoff_ms: 100, max_backoff_ms: 1000, give_up_after_seconds: 120 },
    logging: { level: "info", format: "json" },
    platforms: {
      whatsapp: {
        enabled: true,
        websocket_url: waUrl,
        backoff_initial_ms: 100,
        backoff_max_ms: 500,
        connect_timeout_ms: 10_000,
        query_timeout_ms: 10_000,
        ack_timeout_ms: 1000,
        send_attempts: 2,
        qr_refresh_seconds: 3,
      },
    },
  };
}

export async function startWaRig(opts: {
  owner: string;
  number: string;
  name: string;
  setup(wa: WhatsAppServer): void;
}): Promise<WaRig> {
  const rig = await sharedRig();
  const wa = await WhatsAppServer.start();
  opts.setup(wa);
  const db = await prepareDatabase(opts);
  const pool = db.pool;
  const dir = path.join(rig.dir, `whatsapp-${process.pid}-${Date.now()}`);
  mkdirSync(dir, { recursive: true });
  chmodSync(rig.dir, 0o755);
  const config = bridgeConfig(rig, db.url, wa.url);
  const configPath = path.join(dir, "config.yaml");
  writeFileSync(configPath, dump(config));
  const env = {
    NODE_OPTIONS: `--require ${require.resolve("tsx/cjs")} --require ${TRUST_ROOT}`,
    CLAWBRIDGE_TEST_WA_CERT_ROOT: wa.certRootHex,
  };
  const start = () => BridgeProcess.start({ configPath, registrationPath: rig.registrationPath, env });
  const self: WaRig = {
    rig,
    wa,
    pool,
    configPath,
    bridge: await start(),
    async restart(signal: NodeJS.Signals = "SIGTERM") {
      if (signal === "SIGKILL") {
        self.bridge.kill("SIGKILL");
        await self.bridge.waitForExit();
      } else await self.bridge.stop();
      self.bridge = await start();
    },
    async stop() {
      if (self.bridge.running) await self.bridge.stop();
      await wa.close();
      await db.drop();
    },
  };
  return self;
}

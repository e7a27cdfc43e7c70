/**
 * A WhatsApp client of the real connector against the wire-level stand-in, with its keys in
 * a real PostgreSQL database: pre-made credentials of an already linked device are stored
 * first, as a finished QR login would leave them.
 */
import pg from "pg";
import { loadBaileys } from "../../../../bridges/whatsapp/baileys";
import { pgAuthState } from "../../../../bridges/whatsapp/PgAuthState";
import type { WhatsAppClient } from "../../../../bridges/whatsapp/WhatsAppClient";
import { createConnector } from "../../../../bridges/whatsapp/WhatsAppConnector";
import type { LoginRef, NetworkConnector } from "../../../../src/core/connector";
import { Migrator } from "../../../../src/store/Migrator";
import { type Harness, memoryContext } from "../../../harness/connectorContext";
import { createTestDatabase, startExternalPostgres, type TestPostgres } from "../../../harness/postgres";
import { WhatsAppServer } from "../../../standins/whatsapp/WhatsAppServer";

export interface WireRig {
  wa: WhatsAppServer;
  h: Harness;
  /** Every state report with its message: `STATE — message`. */
  reports: string[];
  pool: pg.Pool;
  connector: NetworkConnector;
  /** A client for `login` (a new one each call: a restart of the bridge). */
  client(login: LoginRef): WhatsAppClient;
  stop(): Promise<void>;
}

export async function startWireRig(config: Record<string, unknown> = {}): Promise<WireRig> {
  const B = await loadBaileys();
  const wa = await WhatsAppServer.start();
  // In this process the stand-in's root is trusted directly; bridge processes use trustRoot.ts.
  B.WA_CERT_DETAILS.PUBLIC_KEY = Buffer.from(wa.certRootHex, "hex");
  const server: TestPostgres = await startExternalPostgres();
  const db = await createTestDatabase(server.url);
  const pool = new pg.Pool({ connectionString: db.url, max: 4 });
  await new Migrator({ pool }).migrate();
  const h = memoryContext("whatsapp", {
    websocket_url: wa.url,
    backoff_initial_ms: 100,
    backoff_max_ms: 400,
    connect_timeout_ms: 10_000,
    query_timeout_ms: 10_000,
    ...config,
  });
  h.ctx.store.query = async (sql, params) => (await pool.query(sql, params)).rows;
  const reports: string[] = [];
  const recordState = h.ctx.stateChanged;
  h.ctx.stateChanged = (login, state, message) => {
    reports.push(message ? `${state} — ${message}` : state);
    recordState(login, state, message);
  };
  const connector = createConnector("whatsapp");
  await connector.init(h.ctx);
  const clients: WhatsAppClient[] = [];
  return {
    wa,
    h,
    reports,
    pool,
    connector,
    client(login) {
      const c = connector.clientFor(login) as WhatsAppClient;
      clients.push(c);
      return c;
    },
    async stop() {
      for (const c of clients) await c.disconnect().catch(() => undefined);
      await wa.close();
      await pool.end();
      await db.drop();
      await server.stop();
    },
  };
}

/** Stores the credentials of a device already linked to `number` under `authKey`. */
export async function storeLinkedDevice(
  rig: WireRig,
  authKey: string,
  number: string,
  name: string,
  device = 1,
): Promise<void> {
  const auth = await pgAuthState(rig.h.ctx.store, authKey);
  auth.state.creds.me = { id: `${number}:${device}@s.whatsapp.net`, name };
  auth.state.creds.registered = true;
  // A device that has been linked for a while has had its first history sync.
  auth.state.creds.accountSyncCounter = 1;
  await auth.saveCreds();
}

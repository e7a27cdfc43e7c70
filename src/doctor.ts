import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { loadRegistrationTokens } from "./config/registration";
import { registrationFileProblems, registrationNeeds } from "./config/registrationCheck";
import type { BridgeConfig, RegistrationTokens } from "./config/types";
import { connectorContext, loadConnector } from "./core/ConnectorRegistry";
import { type DoctorListener, encryptionCheck } from "./doctorEncryption";
import { HttpServer } from "./http/HttpServer";
import { MEDIA_PREFIX, MediaProxy } from "./http/MediaProxy";
import { type Intent, MatrixApi, MatrixError } from "./matrix/MatrixApi";
import { type Database, openDatabase } from "./store/Database";
import { Migrator } from "./store/Migrator";
import { PgStore } from "./store/PgStore";

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
  fix?: string;
  /** Passes, but something works less well than it could: printed as `warn`, with the fix. */
  warn?: boolean;
}

function print(c: Check): void {
  const mark = !c.ok ? "FAIL" : c.warn ? "warn" : "ok  ";
  const line = `${mark}  ${c.name.padEnd(12)} ${c.detail}${(c.ok && !c.warn) || !c.fix ? "" : ` — fix: ${c.fix}`}`;
  console.log(line);
}

/**
 * `clawbridge doctor`: one line per check, each failure with its fix. Works whether or not
 * the bridge is running: when its port is free, doctor answers the homeserver's ping itself.
 */
export async function runDoctor(
  config: BridgeConfig,
  registrationFile: string,
  configPath: string,
): Promise<boolean> {
  const results: Check[] = [];
  const add = (c: Check) => {
    results.push(c);
    print(c);
  };
  add({ name: "config", ok: true, detail: `${configPath} is valid` });

  let tokens: RegistrationTokens | undefined;
  try {
    tokens = loadRegistrationTokens(registrationFile, { configPath });
    add({ name: "registration", ok: true, detail: registrationFile });
  } catch (err) {
    add({ name: "registration", ok: false, detail: (err as Error).message });
  }
  const regenerate =
    `regenerate it keeping its tokens: clawbridge generate-registration -c ${configPath} -f ${registrationFile} ` +
    "--force --keep-tokens, then restart the homeserver (it reads registrations only at start)";
  if (existsSync(registrationFile)) {
    const problems = registrationFileProblems(config, registrationFile);
    add({
      name: "namespaces",
      ok: problems.length === 0,
      detail: problems.length
        ? `${registrationFile} does not match the config: ${problems.join("; ")}`
        : "the registration covers the bot, the AI user and every enabled platform",
      fix: regenerate,
    });
  }

  let db: Database | undefined;
  try {
    db = await openDatabase({
      url: config.database.url,
      dataDir: config.database.data_dir,
      embeddedPort: config.database.embedded_port,
      maxConnections: 2,
    });
    const status = await new Migrator({ pool: db.pool }).status();
    const current = status.applied === status.latest;
    add({
      name: "database",
      ok: current,
      detail: `${config.database.url ? "external" : "embedded"} PostgreSQL, migration ${status.applied} of ${status.latest}`,
      fix: `run clawbridge migrate -c ${configPath}`,
    });
  } catch (err) {
    add({
      name: "database",
      ok: false,
      detail: (err as Error).message,
      fix: config.database.url
        ? "check database.url and that the server is running"
        : `check database.data_dir (${config.database.data_dir})`,
    });
  }

  const api = tokens
    ? new MatrixApi(config.homeserver.url, tokens.as_token, config.homeserver.domain, 10_000)
    : undefined;
  let homeserverUp = false;
  try {
    const probe = api ?? new MatrixApi(config.homeserver.url, "", config.homeserver.domain, 10_000);
    const versions = await probe.versions();
    homeserverUp = true;
    add({
      name: "homeserver",
      ok: true,
      detail: `${config.homeserver.url} (spec ${versions.at(-1) ?? "?"})`,
    });
  } catch (err) {
    add({
      name: "homeserver",
      ok: false,
      detail: (err as Error).message,
      fix: "check homeserver.url and that the homeserver runs",
    });
  }

  if (api && tokens && homeserverUp) {
    const bot = `@${config.bridge.bot.localpart}:${config.homeserver.domain}`;
    try {
      const me = await api.request<{ user_id: string }>("GET", "/_matrix/client/v3/account/whoami", {
        userId: bot,
      });
      add({
        name: "as_token",
        ok: me.user_id === bot,
        detail: `homeserver accepts the registration as ${me.user_id}`,
      });
    } catch (err) {
      add({
        name: "as_token",
        ok: false,
        detail: (err as Error).message,
        fix: `add ${registrationFile} to app_service_config_files in the homeserver config and restart the homeserver`,
      });
    }
    add(await loadedNamespacesCheck(config, api, registrationFile));
    const media = config.appservice.public_url
      ? new MediaProxy({
          homeserverUrl: config.homeserver.url,
          asToken: tokens.as_token,
          publicUrl: config.appservice.public_url,
        })
      : undefined;
    const listener = await doctorListener(config, tokens, media);
    try {
      add(await pingCheck(config, api, listener));
      add(media ? await publicUrlCheck(config, api.intent(bot), media) : publicUrlUnset());
      if (config.encryption.allow) add(await encryptionCheck(config, api, listener));
    } finally {
      await listener.server?.close();
    }
  } else {
    add(
      config.appservice.public_url
        ? { name: "public_url", ok: false, detail: "not checked: needs the registration and the homeserver" }
        : publicUrlUnset(),
    );
  }

  for (const [name, section] of Object.entries(config.platforms)) {
    if (!section.enabled) continue;
    try {
      const connector = loadConnector(name, typeof section.module === "string" ? section.module : undefined);
      if (!connector.check) {
        add({ name, ok: true, detail: "loaded (this connector has no live check)" });
        continue;
      }
      const store = db ? new PgStore(db.pool) : undefined;
      // Read-only: doctor must not move a connector's stored state (offsets…).
      await connector.init(
        connectorContext(
          config,
          name,
          {
            query: async (sql, params) => (store ? store.query(sql, params) : []),
            kvGet: async (_ns, key) => store?.kvGet(name, key),
            kvSet: async () => undefined,
          },
          { emit: async () => undefined, emitAll: async () => undefined, stateChanged: () => undefined },
        ),
      );
      const r = await connector.check();
      add({
        name,
        ok: r.ok,
        detail: r.message,
        fix: r.ok ? undefined : `check platforms.${name} in ${configPath}`,
      });
    } catch (err) {
      add({
        name,
        ok: false,
        detail: (err as Error).message,
        fix: `check platforms.${name} in ${configPath}`,
      });
    }
  }
  await db?.close();
  const failed = results.filter((r) => !r.ok).length;
  console.log(failed ? `${failed} check(s) failed` : "all checks passed");
  return failed === 0;
}

/**
 * Asks the homeserver, as each user the config needs (ghosts of every enabled platform, the AI
 * user), who it is: Synapse answers "cannot masquerade as this user" for an id outside the
 * namespaces it loaded, which happens when the file was regenerated but the homeserver not
 * restarted. ("has not registered this user" is fine: the bridge registers ghosts on demand.)
 */
async function loadedNamespacesCheck(
  config: BridgeConfig,
  api: MatrixApi,
  registrationFile: string,
): Promise<Check> {
  const refused: string[] = [];
  for (const need of registrationNeeds(config)) {
    if (need.kind !== "users") continue;
    try {
      await api.request("GET", "/_matrix/client/v3/account/whoami", { userId: need.id });
    } catch (err) {
      if (err instanceof MatrixError && /masquerade/i.test(err.message))
        refused.push(`${need.id} (${need.what})`);
    }
  }
  return {
    name: "hs-accepts",
    ok: refused.length === 0,
    detail: refused.length
      ? `the homeserver refuses the bridge as ${refused.join(", ")}: it runs with an older registration`
      : "the homeserver lets the bridge act as the bot, the AI user and every enabled platform's ghosts",
    fix: `make sure ${registrationFile} is in the homeserver's app_service_config_files (see the namespaces check) and restart the homeserver`,
  };
}

/**
 * Listens on the bridge's port when it is free, answering pings and (with public_url) the
 * media proxy like the bridge would, so the checks below prove the routes to this port.
 */
async function doctorListener(
  config: BridgeConfig,
  tokens: RegistrationTokens,
  media: MediaProxy | undefined,
): Promise<DoctorListener> {
  const listener: DoctorListener = { answered: false, received: [], heldBack: 0 };
  const candidate = new HttpServer(tokens.hs_token, {
    // Room events wait for the bridge: refused, the homeserver keeps them and retries. A
    // transaction of ephemeral data only is taken (the homeserver would drop it on refusal).
    onTransaction: async (_txnId, txn) => {
      if (Array.isArray(txn.events) && txn.events.length > 0) {
        listener.heldBack++;
        throw new Error("doctor does not process room events");
      }
      listener.received.push(txn as Record<string, unknown>);
    },
    onPing: () => {
      listener.answered = true;
    },
    onUserQuery: async () => false,
    health: () => ({ ok: false, detail: { doctor: true } }),
    media,
  });
  try {
    await candidate.listen(config.appservice.port, config.appservice.bind_address);
    listener.server = candidate;
  } catch {
    // The port is taken: the bridge is running and answers the ping itself.
  }
  return listener;
}

/** MSC2659: the homeserver pings the appservice URL; proves the homeserver can reach the bridge. */
async function pingCheck(config: BridgeConfig, api: MatrixApi, listener: DoctorListener): Promise<Check> {
  try {
    const ms = await api.ping(config.appservice.id, randomUUID());
    const who = listener.server
      ? listener.answered
        ? "doctor's listener"
        : "the listener"
      : "the running bridge";
    return {
      name: "ping",
      ok: true,
      detail: `homeserver reached ${config.appservice.url} in ${ms} ms (${who})`,
    };
  } catch (err) {
    const code = err instanceof MatrixError ? err.errcode : undefined;
    const fix =
      code === "M_CONNECTION_FAILED" || code === "M_CONNECTION_TIMEOUT"
        ? `the homeserver cannot reach appservice.url (${config.appservice.url}): check it and appservice.bind_address/port`
        : code === "M_FORBIDDEN"
          ? "the tokens in the registration differ from what the homeserver loaded: restart the homeserver"
          : `check appservice.id (${config.appservice.id}) matches the registration's id`;
    return { name: "ping", ok: false, detail: (err as Error).message, fix };
  }
}

function publicUrlUnset(): Check {
  return {
    name: "public_url",
    ok: true,
    warn: true,
    detail: "appservice.public_url is not set: avatars of Matrix users will not show on Discord and Slack",
    fix: `set it to a URL at which those platforms reach ${MEDIA_PREFIX}/ on this bridge's listener`,
  };
}

// A 1×1 transparent PNG: the smallest image a platform would fetch.
const TEST_PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
  "base64",
);

/**
 * Fetches a signed URL of a tiny uploaded image through `appservice.public_url`, as Discord
 * and Slack do for avatars; ok only if the bytes come back.
 */
async function publicUrlCheck(config: BridgeConfig, bot: Intent, media: MediaProxy): Promise<Check> {
  const publicUrl = config.appservice.public_url!;
  const fix =
    `make ${publicUrl.replace(/\/+$/, "")}${MEDIA_PREFIX}/ reach this bridge's listener ` +
    `(appservice.port ${config.appservice.port}), e.g. with a reverse proxy rule`;
  let url: string | undefined;
  try {
    url = media.urlFor(await bot.uploadContent(TEST_PNG, "image/png", "clawbridge-doctor.png"));
  } catch (err) {
    return {
      name: "public_url",
      ok: false,
      detail: `could not upload a test image to the homeserver: ${(err as Error).message}`,
      fix: "check the homeserver's media repository (max_upload_size, media_store_path)",
    };
  }
  if (!url)
    return {
      name: "public_url",
      ok: false,
      detail: "the homeserver answered the upload without an mxc:// URI",
    };
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(15_000) });
    const body = Buffer.from(await res.arrayBuffer());
    if (res.status === 200 && body.equals(TEST_PNG)) {
      return { name: "public_url", ok: true, detail: `${publicUrl} serves the bridge's media proxy` };
    }
    const text = body.toString("utf8", 0, 200).replace(/\s+/g, " ");
    return {
      name: "public_url",
      ok: false,
      detail: `a signed test image at ${publicUrl} answered HTTP ${res.status}${res.status === 200 ? " with other bytes" : `: ${text}`}`,
      fix: res.status === 403 ? `${fix}; that URL reaches a bridge with another registration` : fix,
    };
  } catch (err) {
    const cause = (err as { cause?: { message?: string } }).cause?.message;
    return {
      name: "public_url",
      ok: false,
      detail: `fetching a signed test image at ${publicUrl} failed: ${(err as Error).message}${cause ? ` (${cause})` : ""}`,
      fix,
    };
  }
}

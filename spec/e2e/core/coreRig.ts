import { randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { dump } from "js-yaml";
import { BridgeProcess } from "../../harness/BridgeProcess";
import { type MatrixEvent, MatrixTestClient } from "../../harness/MatrixTestClient";
import { RIG_APPSERVICE_ID, RIG_DOMAIN, type SharedRig, sharedRig } from "../../harness/synapse";
import { TestnetServer } from "../../standins/testnet/TestnetServer";

const CONNECTOR = path.resolve(__dirname, "../../standins/testnet/TestnetConnector.ts");
export const BOT = `@clawbridge:${RIG_DOMAIN}`;

/**
 * Users of the run: alice is a bridge admin and owns the testnet login, bob and dave users, carol
 * relay-level, mallory nobody. Suites share them: one that renames a user takes dave, whose name
 * no other suite asserts.
 */
const users = new Map<string, Promise<MatrixTestClient>>();
export function user(name: "alice" | "bob" | "mallory" | "carol" | "dave"): Promise<MatrixTestClient> {
  let u = users.get(name);
  if (!u) {
    u = sharedRig().then((r) => MatrixTestClient.register(r.synapse, name));
    users.set(name, u);
  }
  return u;
}

/** Bodies of the room's messages that start with `prefix`, in timeline order. */
export function bodies(events: MatrixEvent[], prefix: string): string[] {
  return events
    .filter((e) => e.type === "m.room.message" && String(e.content.body).startsWith(prefix))
    .map((e) => String(e.content.body));
}

export function ghostId(remoteId: string, platform = "testnet"): string {
  return `@_${platform}_${remoteId}:${RIG_DOMAIN}`;
}

export interface CoreRig {
  rig: SharedRig;
  testnet: TestnetServer;
  dir: string;
  configPath: string;
  config: Record<string, unknown>;
  bridge: BridgeProcess;
  provisioningSecret: string;
  /**
   * Kills (or stops) the bridge and starts it again on the same data; `whileStopped` runs in
   * between (things that happen on the platform while the bridge is down).
   */
  restart(signal?: NodeJS.Signals, whileStopped?: () => void | Promise<void>): Promise<void>;
  stop(): Promise<void>;
  /** Every secret of this rig, for "never logged" checks. */
  secrets(): string[];
}

let counter = 0;

/**
 * The bridge under test as a child process (the real CLI), on the shared Synapse, with
 * embedded PostgreSQL in a fresh data directory and the testnet platform stand-in.
 */
export async function startCoreRig(
  opts: {
    delivery?: Record<string, number>;
    /** Extra platform sections (a real connector against its stand-in), next to testnet. */
    platforms?: Record<string, Record<string, unknown>>;
    /** The `ai` section (the AI puppet's providers, limits…). */
    ai?: Record<string, unknown>;
    /** Extra `appservice` keys (e.g. `public_url`). */
    appservice?: Record<string, unknown>;
    /** Extra `bridge.permissions` entries. */
    permissions?: Record<string, string>;
    /** Extra `bridge` keys (e.g. `link_approval_timeout_seconds`). */
    bridge?: Record<string, unknown>;
    /** Where the bridge reaches the homeserver (a proxy in front of the shared Synapse); default Synapse itself. */
    homeserverUrl?: string;
    /** The `encryption` section. */
    encryption?: Record<string, unknown>;
    /** The `database` section (default: embedded PostgreSQL in the rig's directory). */
    database?: Record<string, unknown>;
    /** Extra environment of the bridge process (a preload, a test trust root…). */
    env?: Record<string, string>;
    /** More top-level sections (`policy`, `flood`, …). */
    sections?: Record<string, unknown>;
  } = {},
): Promise<CoreRig> {
  const rig = await sharedRig();
  const testnet = await TestnetServer.start({ token: randomBytes(16).toString("hex") });
  const dir = path.join(rig.dir, `core-${process.pid}-${++counter}`);
  mkdirSync(dir, { recursive: true });
  // As root, embedded PostgreSQL runs as its own system user, which must be able to reach the data dir.
  chmodSync(rig.dir, 0o755);
  chmodSync(dir, 0o755);
  const provisioningSecret = randomBytes(24).toString("hex");
  const config = {
    homeserver: { url: opts.homeserverUrl ?? rig.synapse.url, domain: RIG_DOMAIN },
    appservice: {
      id: RIG_APPSERVICE_ID,
      url: `http://127.0.0.1:${rig.bridgePort}`,
      bind_address: "127.0.0.1",
      port: rig.bridgePort,
      registration: rig.registrationPath,
      ...opts.appservice,
    },
    bridge: {
      bot: { localpart: "clawbridge", displayname: "Clawbridge test bot" },
      command_prefix: "!cb",
      permissions: {
        [`@alice:${RIG_DOMAIN}`]: "admin",
        [`@bob:${RIG_DOMAIN}`]: "user",
        [`@dave:${RIG_DOMAIN}`]: "user",
        [`@carol:${RIG_DOMAIN}`]: "relay",
        ...opts.permissions,
      },
      ...opts.bridge,
    },
    database: opts.database ?? { data_dir: path.join(dir, "data") },
    delivery: { initial_backoff_ms: 100, max_backoff_ms: 1000, give_up_after_seconds: 120, ...opts.delivery },
    provisioning: { enabled: true, shared_secret: provisioningSecret },
    ...(opts.ai ? { ai: opts.ai } : {}),
    ...(opts.encryption ? { encryption: opts.encryption } : {}),
    ...opts.sections,
    logging: { level: "info", format: "json" },
    platforms: {
      testnet: {
        enabled: true,
        module: CONNECTOR,
        base_url: testnet.url,
        token: testnet.token,
        owner: `@alice:${RIG_DOMAIN}`,
        poll_timeout_seconds: 1,
        backoff_initial_ms: 50,
        backoff_max_ms: 500,
      },
      ...opts.platforms,
    },
  };
  const configPath = path.join(dir, "config.yaml");
  writeFileSync(configPath, dump(config));
  const start = () =>
    BridgeProcess.start({ configPath, registrationPath: rig.registrationPath, env: opts.env });
  const self: CoreRig = {
    rig,
    testnet,
    dir,
    configPath,
    config,
    provisioningSecret,
    bridge: await start(),
    async restart(signal: NodeJS.Signals = "SIGTERM", whileStopped?: () => void | Promise<void>) {
      if (signal === "SIGKILL") {
        self.bridge.kill("SIGKILL");
        await self.bridge.waitForExit();
      } else {
        await self.bridge.stop();
      }
      await whileStopped?.();
      self.bridge = await start();
    },
    async stop() {
      if (self.bridge.running) await self.bridge.stop();
      await testnet.close();
    },
    secrets: () => [
      rig.asToken,
      rig.hsToken,
      testnet.token,
      provisioningSecret,
      ...Object.values(opts.platforms ?? {}).flatMap((p) =>
        Object.entries(p)
          .filter(([k, v]) => /token|secret/.test(k) && typeof v === "string")
          .map(([, v]) => v as string),
      ),
    ],
  };
  return self;
}

/** The portal room of a remote chat, found through the invite alice gets. */
export async function portalRoomFor(
  alice: MatrixTestClient,
  chatId: string,
  platform = "testnet",
): Promise<string> {
  // Invites carry the canonical alias in their stripped state; chat ids in tests are plain.
  const alias = `#_${platform}_${chatId}:${RIG_DOMAIN}`;
  const invite = await alice.waitForInvite(
    (i) => i.events.some((e) => e.type === "m.room.canonical_alias" && e.content.alias === alias),
    45_000,
  );
  await alice.join(invite.roomId);
  return invite.roomId;
}

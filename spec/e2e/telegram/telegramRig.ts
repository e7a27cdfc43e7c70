/**
 * What the Telegram e2e suites share: the Bot API stand-in, the bridge on the shared Synapse
 * with a Telegram section pointing at it, and helpers for media and call checks.
 */
import assert from "node:assert/strict";
import { randomBytes, randomInt } from "node:crypto";
import type { MatrixEvent, MatrixTestClient } from "../../harness/MatrixTestClient";
import { type RecordedCall, TelegramServer } from "../../standins/telegram/TelegramServer";
import { type CoreRig, startCoreRig, user } from "../core/coreRig";

export const BRIDGE_BOT = "@clawbridge:localhost";
export const tgGhost = (id: number): string => `@_telegram_${id}:localhost`;
export const isText =
  (body: string) =>
  (e: MatrixEvent): boolean =>
    e.type === "m.room.message" && e.content.body === body;

export interface TelegramRig {
  tg: TelegramServer;
  core: CoreRig;
  alice: MatrixTestClient;
  /** The bytes behind an mxc:// URI, as a Matrix client downloads them. */
  download(mxc: unknown): Promise<Buffer>;
  /** Uploads to the media repository as alice; returns the mxc:// URI. */
  upload(data: Buffer, name: string, type: string): Promise<string>;
  /** A predicate true for the stand-in's calls from now on. */
  from(): (c: RecordedCall) => boolean;
  stop(): Promise<void>;
}

/**
 * Starts the stand-in (a bot whose token starts with its id, as on Telegram) and the bridge
 * with `platforms.telegram` = owner alice + the stand-in's token and URL + `config`.
 */
export async function startTelegramRig(
  username: string,
  config: Record<string, unknown>,
  setup: (tg: TelegramServer) => void | Promise<void> = () => undefined,
  bridge: Record<string, unknown> = {},
  /** The login's owner (default alice, a bridge admin) and other sections of the bridge's config. */
  more: {
    owner?: string;
    encryption?: Record<string, unknown>;
    permissions?: Record<string, string>;
    /** Where the bridge reaches the homeserver (a proxy in front of the shared Synapse). */
    homeserverUrl?: string;
  } = {},
): Promise<TelegramRig> {
  const botId = randomInt(100000, 999999);
  const tg = await TelegramServer.start({
    token: `${botId}:${randomBytes(24).toString("base64url")}`,
    botUser: { id: botId, is_bot: true, first_name: "Bridge", username },
  });
  await setup(tg);
  const core = await startCoreRig({
    bridge,
    encryption: more.encryption,
    permissions: more.permissions,
    homeserverUrl: more.homeserverUrl,
    platforms: {
      telegram: {
        enabled: true,
        bot_token: tg.token,
        owner: more.owner ?? "@alice:localhost",
        api_root: tg.url,
        backoff_initial_ms: 50,
        backoff_max_ms: 500,
        ...config,
      },
    },
  });
  const alice = await user("alice");
  const base = core.rig.synapse.url;
  return {
    tg,
    core,
    alice,
    async download(mxc) {
      const [server, id] = String(mxc).slice("mxc://".length).split("/");
      const res = await fetch(`${base}/_matrix/client/v1/media/download/${server}/${id}`, {
        headers: { Authorization: `Bearer ${alice.accessToken}` },
      });
      assert.equal(res.status, 200, `download of ${String(mxc)}`);
      return Buffer.from(await res.arrayBuffer());
    },
    async upload(data, name, type) {
      const up = await fetch(`${base}/_matrix/media/v3/upload?filename=${encodeURIComponent(name)}`, {
        method: "POST",
        headers: { Authorization: `Bearer ${alice.accessToken}`, "Content-Type": type },
        body: data,
      });
      return ((await up.json()) as { content_uri: string }).content_uri;
    },
    from() {
      const n = tg.calls.length;
      return (c) => tg.calls.indexOf(c) >= n;
    },
    async stop() {
      await core.stop();
      await tg.close();
    },
  };
}

/**
 * Test harness for the Telegram connector: an in-memory ConnectorContext and the real
 * connector + grammy pointed at the {@link TelegramServer} stand-in.
 */

import { randomBytes, randomInt } from "node:crypto";
import type { TelegramClient } from "../../../bridges/telegram/TelegramClient";
import { createConnector } from "../../../bridges/telegram/TelegramConnector";
import type { OutboundMessage } from "../../../src/core/connector";
import { connectConfigLogin, type Harness, memoryContext } from "../../harness/connectorContext";
import { TelegramServer } from "./TelegramServer";

export { type Harness, ofKind, QuietLogger, until } from "../../harness/connectorContext";

/** A context whose config points the connector at `server`. */
export function harness(
  server: TelegramServer,
  extra: Record<string, unknown> = {},
  kv = new Map<string, string>(),
): Harness {
  const config = {
    bot_token: server.token,
    owner: "@owner:hs.test",
    api_root: server.url,
    poll_timeout_seconds: 2,
    backoff_initial_ms: 50,
    backoff_max_ms: 200,
    ...extra,
  };
  return memoryContext("telegram", config, kv);
}

/** Builds the connector from the harness config and returns a connected client. */
export const connectClient = (h: Harness): Promise<TelegramClient> =>
  connectConfigLogin<TelegramClient>(createConnector(), h);

/** A plain outbound text from Alice. */
export const outbound = (text: string, extra: Partial<OutboundMessage> = {}): OutboundMessage => ({
  sender: { mxid: "@alice:hs.test", displayName: "Alice" },
  text,
  msgtype: "text",
  ...extra,
});

/** Chat and users every connector spec starts with. */
export const GROUP = -1001234567890;
export const ALICE = 501;
export const BOB = 502;

/**
 * Registers mocha hooks that start a fresh stand-in (bot id matching its token, GROUP, ALICE,
 * BOB) before each test and stop it and every client started through `start` after.
 */
export function useTelegramServer(): {
  server(): TelegramServer;
  start(h: Harness): Promise<TelegramClient>;
} {
  let server: TelegramServer | undefined;
  const clients: TelegramClient[] = [];
  beforeEach(async () => {
    const botId = randomInt(100_000, 9_999_999);
    server = await TelegramServer.start({
      token: `${botId}:${randomBytes(24).toString("base64url")}`,
      botUser: { id: botId, is_bot: true, first_name: "Bridge", username: "bridge_test_bot" },
    });
    server.addUser({ id: ALICE, first_name: "Alice", last_name: "Liddell", username: "alice" });
    server.addUser({ id: BOB, first_name: "Bob" });
    server.addChat({ id: GROUP, type: "supergroup", title: "The Group", description: "about things" });
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.disconnect();
    await server?.close();
  });
  return {
    server: () => {
      if (!server) throw new Error("the stand-in starts in beforeEach");
      return server;
    },
    async start(h) {
      const c = await connectClient(h);
      clients.push(c);
      return c;
    },
  };
}

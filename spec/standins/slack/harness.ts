/**
 * Test harness for the Slack connector: an in-memory ConnectorContext and the real connector
 * + bolt pointed at the {@link SlackServer} stand-in.
 */
import type { SlackClient } from "../../../bridges/slack/SlackClient";
import { createConnector } from "../../../bridges/slack/SlackConnector";
import type { LoginRef, NetworkConnector, OutboundMessage } from "../../../src/core/connector";
import { type Harness, memoryContext } from "../../harness/connectorContext";
import { SlackServer, type Workspace } from "./SlackServer";

export { type Harness, ofKind, QuietLogger, until } from "../../harness/connectorContext";

/** The config section of one workspace of the stand-in. */
export function workspaceConfig(w: Workspace, httpPort?: number): Record<string, unknown> {
  return w.mode === "http"
    ? {
        bot_token: w.botToken,
        signing_secret: w.signingSecret,
        http_port: httpPort ?? 0,
        http_host: "127.0.0.1",
      }
    : { bot_token: w.botToken, app_token: w.appToken };
}

/** A context whose config points the connector at `server` with these workspaces. */
export function harness(
  server: SlackServer,
  workspaces: Workspace[],
  extra: Record<string, unknown> = {},
): Harness {
  return memoryContext("slack", {
    owner: "@owner:hs.test",
    api_url: server.apiUrl,
    workspaces: workspaces.map((w) => workspaceConfig(w)),
    ...extra,
  });
}

/** Builds the connector from the harness config and returns connected clients, one per workspace. */
export async function connectClients(
  h: Harness,
): Promise<{ connector: NetworkConnector; clients: SlackClient[] }> {
  const connector = createConnector();
  await connector.init(h.ctx);
  await connector.start();
  const clients: SlackClient[] = [];
  for (const [i, login] of connector.configLogins!().entries()) {
    const ref: LoginRef = { id: `login-${i + 1}`, ...login };
    const client = connector.clientFor(ref) as SlackClient;
    await client.connect();
    clients.push(client);
  }
  return { connector, clients };
}

export const outbound = (text: string, extra: Partial<OutboundMessage> = {}): OutboundMessage => ({
  sender: { mxid: "@alice:hs.test", displayName: "Alice", avatarUrl: "http://127.0.0.1:1/alice.png" },
  text,
  msgtype: "text",
  ...extra,
});

export const TEAM = "T0AAA";
export const TEAM2 = "T0BBB";
export const CHANNEL = "C0GENERAL";
export const UMA = "U0UMA";
export const UGO = "U0UGO";

/** mocha hooks: a fresh stand-in with one workspace (TEAM, CHANNEL, UMA, UGO) per test. */
export function useSlackServer(): {
  server(): SlackServer;
  ws(): Workspace;
  start(h: Harness): Promise<SlackClient[]>;
} {
  let server: SlackServer | undefined;
  let connector: NetworkConnector | undefined;
  beforeEach(async () => {
    server = await SlackServer.start();
    const w = server.addWorkspace({ team: TEAM, name: "Acme" });
    w.addUser({
      id: UMA,
      name: "uma",
      real_name: "Uma Real",
      display_name: "Uma",
      avatar: Buffer.from("uma-avatar"),
    });
    w.addUser({ id: UGO, name: "ugo", real_name: "Ugo Real" });
    w.addChannel({ id: CHANNEL, name: "general", topic: "all things", members: [UMA, UGO, w.botUserId] });
  });
  afterEach(async () => {
    await connector?.stop();
    connector = undefined;
    await server?.close();
  });
  return {
    server: () => server!,
    ws: () => server!.ws(TEAM),
    async start(h) {
      const r = await connectClients(h);
      connector = r.connector;
      return r.clients;
    },
  };
}

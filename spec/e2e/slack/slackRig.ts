/**
 * The Slack e2e rig: the Slack stand-in with two workspaces (A over Socket Mode, B over the
 * Events API, B without chat:write.customize) and the bridge process on the shared Synapse.
 * Each spec file passes its own `tag`, so channel ids, team ids and so portal aliases differ.
 */
import { randomBytes } from "node:crypto";
import { createServer } from "node:net";
import { escapeLocalpart } from "../../../src/config/ids";
import type { MatrixEvent, MatrixTestClient } from "../../harness/MatrixTestClient";
import { workspaceConfig } from "../../standins/slack/harness";
import { type RecordedCall, SlackServer, type Workspace } from "../../standins/slack/SlackServer";
import { type CoreRig, startCoreRig, user } from "../core/coreRig";

export const BOT = "@clawbridge:localhost";
export const UMA = "U0UMA";
export const UGO = "U0UGO";
export const BEA = "U0BEA";
export const ghost = (team: string, u: string): string => `@_slack_${`${team}_${u}`.toLowerCase()}:localhost`;
export const alias = (channel: string): string => `#_slack_${escapeLocalpart(channel)}:localhost`;
export const isText =
  (body: string) =>
  (e: MatrixEvent): boolean =>
    e.type === "m.room.message" && e.content.body === body;

export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

export interface SlackRig {
  slack: SlackServer;
  /** Workspace A (Socket Mode) and B (HTTP, no customize). */
  wa: Workspace;
  wb: Workspace;
  A: string;
  B: string;
  /** A's general channel, B's general channel, and a channel of B nobody wrote in yet. */
  CH: string;
  CH_B: string;
  CH_LINK: string;
  httpUrl: string;
  core: CoreRig;
  alice: MatrixTestClient;
  /** Accepts alice's invite to the portal of `channel`. */
  portal(channel: string): Promise<string>;
  /** The first successful chat.postMessage in `team` whose text matches. */
  posted(team: string, pred: (text: string) => boolean): Promise<RecordedCall>;
  stop(): Promise<void>;
}

export async function startSlackRig(
  tag: string,
  opts: { sections?: Record<string, unknown> } = {},
): Promise<SlackRig> {
  const A = `T0${tag}A`;
  const B = `T0${tag}B`;
  const CH = `C0${tag}GEN`;
  const CH_B = `C0${tag}BGEN`;
  const CH_LINK = `C0${tag}LINK`;
  const slack = await SlackServer.start();
  const wa = slack.addWorkspace({ team: A, name: "Acme" });
  wa.addUser({ id: UMA, name: "uma", real_name: "Uma Real", display_name: "Uma", avatar: randomBytes(300) });
  wa.addUser({ id: UGO, name: "ugo", real_name: "Ugo Real" });
  wa.addChannel({ id: CH, name: "general", topic: "All things Acme", members: [UMA, UGO, wa.botUserId] });
  const wb = slack.addWorkspace({ team: B, name: "Beta", mode: "http" });
  wb.scopes = wb.scopes.filter((x) => x !== "chat:write.customize");
  wb.addUser({ id: BEA, name: "bea", real_name: "Bea Beta" });
  wb.addChannel({ id: CH_B, name: "beta-general", purpose: "Beta's purpose", members: [BEA, wb.botUserId] });
  wb.addChannel({ id: CH_LINK, name: "to-link", members: [BEA, wb.botUserId] });
  const port = await freePort();
  const httpUrl = `http://127.0.0.1:${port}/slack/events`;
  wb.eventsUrl = httpUrl;
  const core = await startCoreRig({
    platforms: {
      slack: {
        enabled: true,
        owner: "@alice:localhost",
        api_url: slack.apiUrl,
        max_file_bytes: 1024 * 1024,
        workspaces: [workspaceConfig(wa), workspaceConfig(wb, port)],
      },
    },
    sections: opts.sections,
  });
  const alice = await user("alice");
  await slack.until(() => slack.connected(A), 60_000, "workspace A's socket");
  return {
    slack,
    wa,
    wb,
    A,
    B,
    CH,
    CH_B,
    CH_LINK,
    httpUrl,
    core,
    alice,
    async portal(channel) {
      const invite = await alice.waitForInvite((i) =>
        i.events.some((e) => e.type === "m.room.canonical_alias" && e.content.alias === alias(channel)),
      );
      await alice.join(invite.roomId);
      return invite.roomId;
    },
    posted: (team, pred) =>
      slack.waitFor(
        (c) => c.method === "chat.postMessage" && c.team === team && pred(String(c.params.text)),
        30_000,
      ),
    async stop() {
      await core.stop();
      await slack.close();
    },
  };
}

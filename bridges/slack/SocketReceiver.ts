/**
 * A bolt Receiver over @slack/socket-mode that acknowledges an envelope only after bolt (and
 * so the bridge's middleware) finished with it: bolt's own SocketModeReceiver acks Events API
 * envelopes before processing, so a crash in between would lose the event. Unacknowledged
 * envelopes are delivered again by Slack, and the bridge drops repeated event ids.
 *
 * It also takes the Web API URL for `apps.connections.open` (bolt's receiver does not pass
 * `clientOptions` on), which the tests need to point it at the stand-in.
 */
import type { App, Receiver } from "@slack/bolt";
import { SocketModeClient } from "@slack/socket-mode";
import type { Logger } from "../../src/log/Logger";

export interface SocketReceiverOptions {
  appToken: string;
  slackApiUrl: string;
  log: Logger;
  onState(state: "connected" | "reconnecting" | "disconnected"): void;
}

interface SlackEventArgs {
  ack(): Promise<void>;
  body: Record<string, unknown>;
  type: string;
  retry_num?: number;
  retry_reason?: string;
}

export class SocketReceiver implements Receiver {
  readonly client: SocketModeClient;
  private app?: App;

  constructor(private readonly opts: SocketReceiverOptions) {
    this.client = new SocketModeClient({
      appToken: opts.appToken,
      clientOptions: { slackApiUrl: opts.slackApiUrl },
      logger: {
        debug: () => {},
        info: () => {},
        warn: (...m: unknown[]) => opts.log.warn(`socket mode: ${m.map(String).join(" ")}`),
        error: (...m: unknown[]) => opts.log.warn(`socket mode: ${m.map(String).join(" ")}`),
        setLevel: () => {},
        getLevel: () => "warn" as never,
        setName: () => {},
      },
    });
    this.client.on("slack_event", (args: SlackEventArgs) => {
      void this.onEvent(args);
    });
    this.client.on("connected", () => opts.onState("connected"));
    this.client.on("reconnecting", () => opts.onState("reconnecting"));
    this.client.on("disconnected", () => opts.onState("disconnected"));
  }

  init(app: App): void {
    this.app = app;
  }

  private async onEvent(args: SlackEventArgs): Promise<void> {
    if (!this.app) return;
    if (args.type !== "events_api") {
      await args.ack(); // interactivity and commands are not bridged
      return;
    }
    try {
      await this.app.processEvent({
        body: args.body,
        ack: async () => {},
        retryNum: args.retry_num,
        retryReason: args.retry_reason,
      });
      await args.ack();
    } catch (err) {
      this.opts.log.warn("slack: event not acknowledged, Slack will deliver it again", {
        err: String((err as Error)?.message ?? err),
      });
    }
  }

  async start(): Promise<unknown> {
    return this.client.start();
  }

  async stop(): Promise<unknown> {
    return this.client.disconnect();
  }
}

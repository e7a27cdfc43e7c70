/**
 * Which workspace a chat belongs to. A channel id names one workspace, but the core may ask
 * any client of the connector: a chat goes to the client it was seen in, else this one, else
 * the first other client whose workspace knows the channel.
 */
import type { RemoteChatRef } from "../../src/core/connector";
import { slackCode } from "./errors";
import type { SlackClient } from "./SlackClient";

/** How clients of one connector find the workspace a channel belongs to. */
export interface ChannelRouting {
  owner(channel: string): SlackClient | undefined;
  remember(channel: string, client: SlackClient): void;
  others(self: SlackClient): SlackClient[];
}

export class ChatRouter {
  constructor(
    private readonly self: SlackClient,
    private readonly routing: ChannelRouting,
    /** Whether a client's workspace knows the channel (conversations.info answers). */
    private readonly knows: (client: SlackClient, channel: string) => Promise<boolean>,
  ) {}

  /** Runs `fn` on the client of the workspace the channel belongs to. */
  async run<T>(chat: RemoteChatRef, fn: (c: SlackClient) => Promise<T>): Promise<T> {
    const owner = this.routing.owner(chat.id);
    if (owner) return fn(owner);
    try {
      const r = await fn(this.self);
      this.routing.remember(chat.id, this.self);
      return r;
    } catch (err) {
      if (slackCode(err) !== "channel_not_found") throw err;
      for (const other of this.routing.others(this.self)) {
        if (await this.knows(other, chat.id)) {
          this.routing.remember(chat.id, other);
          return fn(other);
        }
      }
      throw err;
    }
  }

  /** An event came from the channel: it belongs to this client's workspace. */
  seen(channel: string): void {
    this.routing.remember(channel, this.self);
  }

  /** Every client of the connector, this one first. */
  clients(): SlackClient[] {
    return [this.self, ...this.routing.others(this.self)];
  }

  /** The client of a team (this one if none is). */
  ofTeam(team: string): SlackClient {
    return [this.self, ...this.routing.others(this.self)].find((c) => c.team === team) ?? this.self;
  }
}

/**
 * Matrix into one workspace: messages (relayed under the Matrix sender's name where the app
 * may customize its messages, else with the relay template), files, edits, deletes, reactions
 * and channel name and topic.
 */
import type { webApi } from "@slack/bolt";
import type { MatrixSender, OutboundMessage, RemoteChatRef, SentRef } from "../../src/core/connector";
import type { SlackConfig } from "./config";
import { matrixToMrkdwn, reactionName, relayText } from "./convert/index";
import { slack, slackCode } from "./errors";
import { parseRemoteUserId } from "./inbound";
import type { SlackDirectory } from "./SlackDirectory";
import type { SlackFiles } from "./SlackFiles";
import type { ThreadRoots } from "./ThreadRoots";

/** Slack's limit is 40,000 characters; it truncates beyond, so longer texts are split. */
export const MAX_TEXT = 39_000;

type Obj = Record<string, unknown>;

/** `metadata.event_type` of the bridge's messages: the Matrix event and part they relay. */
export const RELAY_EVENT_TYPE = "clawbridge_relay";

export interface SlackSenderOptions {
  web: webApi.WebClient;
  files: SlackFiles;
  cfg: SlackConfig;
  directory: SlackDirectory;
  roots: ThreadRoots;
  /** The remote user id behind a Matrix user id (a ghost's), for mentions. */
  remoteUserIdOf(mxid: string): string | undefined;
}

export class SlackSender {
  constructor(private readonly o: SlackSenderOptions) {}

  private mrkdwn(msg: OutboundMessage): string {
    const team = this.o.directory.team;
    return matrixToMrkdwn(msg.text, msg.html, {
      slackUser: (mxid) => {
        const id = this.o.remoteUserIdOf(mxid);
        const parsed = id ? parseRemoteUserId(id) : undefined;
        return parsed && parsed.team === team ? parsed.user : undefined;
      },
    });
  }

  private get customize(): boolean {
    return this.o.directory.me?.customize === true;
  }

  /** The text and identity of a relayed message: the sender's own name when the app may. */
  private identity(msg: OutboundMessage, body: string): { text: string; extra: Obj } {
    const sender = msg.sender;
    if (this.customize && msg.msgtype !== "emote") {
      const extra: Obj = { username: (sender.displayName || sender.mxid).slice(0, 80) };
      if (sender.avatarUrl) extra.icon_url = sender.avatarUrl;
      return { text: body, extra };
    }
    if (this.customize) return { text: `_${body}_`, extra: { username: sender.displayName || sender.mxid } };
    return { text: relayText(this.o.cfg.relayTemplate, sender, body, msg.msgtype), extra: {} };
  }

  async send(chat: RemoteChatRef, msg: OutboundMessage): Promise<SentRef> {
    const { web, roots } = this.o;
    const body = msg.text === "" && !msg.html ? "" : this.mrkdwn(msg);
    // Slack has threads, not replies: a Matrix reply goes into the thread of the message it
    // answers and is also shown in the channel (reply_broadcast), as Slack's "also send to channel".
    const threadTs = msg.threadRoot ?? (msg.replyTo ? (roots.rootOf(msg.replyTo) ?? msg.replyTo) : undefined);
    const thread = threadTs ? { thread_ts: threadTs } : {};
    const broadcast = !msg.threadRoot && msg.replyTo ? { reply_broadcast: true } : {};
    const ids: string[] = [];
    if (msg.attachment) {
      // Uploads cannot carry another name or icon, so a file always says who sent it.
      const comment = relayText(this.o.cfg.relayTemplate, msg.sender, body, msg.msgtype).trim();
      const ts = await this.o.files.upload(chat.id, msg.attachment.media, { comment, threadTs });
      if (threadTs) roots.remember(ts, threadTs);
      return { ids: [ts], timestamp: Math.round(Number(ts) * 1000) };
    }
    const { text, extra } = this.identity(msg, body);
    let timestamp = Date.now();
    // Slack has no idempotency key: each message carries its event and part in its metadata,
    // and a repeat (after a crash or a failure) first looks for what was posted already.
    const earlier =
      msg.again && msg.eventId
        ? await this.postedEarlier(chat.id, msg.eventId, msg.eventTs, threadTs)
        : new Map<number, string>();
    for (let i = 0, n = 0; i < text.length || i === 0; i += MAX_TEXT, n++) {
      const part = text.slice(i, i + MAX_TEXT);
      const found = earlier.get(n);
      if (found) {
        ids.push(found);
        timestamp = Math.round(Number(found) * 1000);
        continue;
      }
      const metadata = msg.eventId
        ? { metadata: { event_type: RELAY_EVENT_TYPE, event_payload: { event_id: msg.eventId, part: n } } }
        : {};
      const res = (await slack(() =>
        web.chat.postMessage({
          channel: chat.id,
          text: part,
          ...thread,
          ...(i === 0 ? broadcast : {}),
          ...extra,
          ...metadata,
        } as webApi.ChatPostMessageArguments),
      )) as { ts?: string };
      if (!res.ts) throw new Error("chat.postMessage returned no ts");
      ids.push(res.ts);
      if (threadTs) roots.remember(res.ts, threadTs);
      timestamp = Math.round(Number(res.ts) * 1000);
    }
    return { ids, timestamp };
  }

  /**
   * The parts of `eventId` the bridge posted before (part → ts): the channel's messages (or the
   * thread's replies) since shortly before the event, with the bridge's metadata.
   */
  private async postedEarlier(
    channel: string,
    eventId: string,
    eventTs: number | undefined,
    threadTs: string | undefined,
  ): Promise<Map<number, string>> {
    const oldest = (((eventTs ?? Date.now()) - 60_000) / 1000).toFixed(6);
    const page = { channel, oldest, limit: 200, include_all_metadata: true };
    const res = (await slack(() =>
      threadTs
        ? this.o.web.conversations.replies({ ...page, ts: threadTs })
        : this.o.web.conversations.history(page),
    )) as { messages?: Obj[] };
    const found = new Map<number, string>();
    for (const m of res.messages ?? []) {
      const meta = m.metadata as { event_type?: string; event_payload?: Obj } | undefined;
      if (meta?.event_type !== RELAY_EVENT_TYPE || meta.event_payload?.event_id !== eventId) continue;
      const part = meta.event_payload.part;
      if (typeof part === "number" && typeof m.ts === "string" && !found.has(part)) found.set(part, m.ts);
    }
    return found;
  }

  async edit(chat: RemoteChatRef, remoteId: string, msg: OutboundMessage): Promise<void> {
    const { text } = this.customize ? { text: this.mrkdwn(msg) } : this.identity(msg, this.mrkdwn(msg));
    await slack(() =>
      this.o.web.chat.update({ channel: chat.id, ts: remoteId, text: text.slice(0, MAX_TEXT) }),
    );
  }

  async delete(chat: RemoteChatRef, remoteId: string): Promise<void> {
    try {
      await slack(() => this.o.web.chat.delete({ channel: chat.id, ts: remoteId }));
    } catch (err) {
      if (slackCode(err) === "message_not_found") return; // already gone
      throw err;
    }
  }

  /** reactions.add with the emoji's Slack name; an emoji Slack has no name for is sent as a threaded text. */
  async react(chat: RemoteChatRef, target: string, key: string, sender: MatrixSender): Promise<void> {
    const name = reactionName(key);
    if (!name) {
      await slack(() =>
        this.o.web.chat.postMessage({
          channel: chat.id,
          thread_ts: target,
          text: `${sender.displayName || sender.mxid} reacted with ${key}`,
        }),
      );
      return;
    }
    try {
      await slack(() => this.o.web.reactions.add({ channel: chat.id, timestamp: target, name }));
    } catch (err) {
      if (slackCode(err) !== "already_reacted") throw err;
    }
  }

  /** reactions.remove; a reaction that was sent as a text stays. */
  async unreact(chat: RemoteChatRef, target: string, key: string): Promise<void> {
    const name = reactionName(key);
    if (!name) return;
    try {
      await slack(() => this.o.web.reactions.remove({ channel: chat.id, timestamp: target, name }));
    } catch (err) {
      if (slackCode(err) !== "no_reaction") throw err;
    }
  }

  async rename(chat: RemoteChatRef, name: string): Promise<void> {
    await slack(() => this.o.web.conversations.rename({ channel: chat.id, name: name.slice(0, 80) }));
  }

  async setTopic(chat: RemoteChatRef, topic: string): Promise<void> {
    await slack(() => this.o.web.conversations.setTopic({ channel: chat.id, topic: topic.slice(0, 250) }));
  }
}

/**
 * Approval requests in Discord channels: a message with Approve / Deny buttons (message
 * components); a press arrives as INTERACTION_CREATE and is answered through the interaction
 * callback. Members who may manage the channel or the server (or administrators) decide;
 * anyone else gets an ephemeral answer and the request stays open.
 */
import {
  ActionRowBuilder,
  ButtonBuilder,
  type ButtonInteraction,
  ButtonStyle,
  type Client,
  type Message,
  MessageFlags,
  PermissionFlagsBits,
} from "discord.js";
import { PendingApprovals } from "../../src/core/approval";
import type {
  ApprovalDecision,
  ApprovalRequest,
  ConnectorContext,
  RemoteChatRef,
} from "../../src/core/connector";

const describe = (err: unknown): string => (err instanceof Error ? err.message : String(err));
const DECIDERS = [
  PermissionFlagsBits.Administrator,
  PermissionFlagsBits.ManageGuild,
  PermissionFlagsBits.ManageChannels,
];

export class DiscordApprovals {
  private readonly pending = new PendingApprovals<Message>();

  constructor(
    private readonly discord: Client,
    private readonly ctx: ConnectorContext,
  ) {}

  async request(chat: RemoteChatRef, req: ApprovalRequest): Promise<ApprovalDecision> {
    req.signal.throwIfAborted();
    const channel = await this.discord.channels.fetch(chat.threadId ?? chat.id);
    if (!channel?.isTextBased() || !channel.isSendable())
      throw new Error(`channel ${chat.id} takes no messages`);
    const row = new ActionRowBuilder<ButtonBuilder>().addComponents(
      new ButtonBuilder()
        .setCustomId(`cbapprove:y:${req.id}`)
        .setLabel("Approve")
        .setStyle(ButtonStyle.Success),
      new ButtonBuilder().setCustomId(`cbapprove:n:${req.id}`).setLabel("Deny").setStyle(ButtonStyle.Danger),
    );
    const sending: Promise<Message> = channel.send({
      content: req.text,
      components: [row],
      allowedMentions: { parse: [] },
    });
    return this.pending.request(req, sending, (message) =>
      message
        .edit({ content: `${req.text}\n\nNobody decided in time: the request expired.`, components: [] })
        .catch((err: unknown) =>
          this.ctx.log.debug("discord: approval request not updated", { err: describe(err) }),
        ),
    );
  }

  /** Handles a pressed button; true when it was one of ours (answered either way). */
  async onButton(i: ButtonInteraction): Promise<boolean> {
    const m = /^cbapprove:([yn]):([0-9a-f]{1,16})$/.exec(i.customId);
    if (!m) return false;
    const [, verdict, id] = m;
    const p = await this.pending.get(id!);
    const ephemeral = (content: string) =>
      i
        .reply({ content, flags: MessageFlags.Ephemeral })
        .catch((err: unknown) =>
          this.ctx.log.debug("discord: interaction not answered", { err: describe(err) }),
        );
    if (!p || i.message.id !== p.sent.id) {
      await ephemeral("This request is no longer open.");
      return true;
    }
    if (!i.inGuild() || !i.memberPermissions?.any(DECIDERS)) {
      await ephemeral("Only admins and moderators of this server may decide this.");
      return true;
    }
    const approved = verdict === "y";
    const by = i.user.globalName || i.user.username;
    if (!this.pending.decide(id!, { approved, by: `${by} (Discord user ${i.user.id})` })) {
      await ephemeral("This request is no longer open.");
      return true;
    }
    await i
      .update({ content: `${p.text}\n\n${approved ? "Approved" : "Denied"} by ${by}.`, components: [] })
      .catch((err: unknown) =>
        this.ctx.log.debug("discord: interaction not answered", { err: describe(err) }),
      );
    return true;
  }
}

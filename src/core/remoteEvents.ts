/**
 * What a connector reports of its platform through `ConnectorContext.emit`: one
 * {@link RemoteEvent} per thing that happened (a message, an edit, a reaction, a member
 * change…). Part of the connector contract (see connector.ts, which exports these too).
 */
import type {
  ChatInfo,
  MediaRef,
  RemoteChatRef,
  RemoteLocation,
  RemotePoll,
  RemoteUserRef,
  UserInfo,
} from "./connector";

interface RemoteEventBase {
  /** The chat this happened in. Together with the platform this keys the portal. */
  chat: RemoteChatRef;
  /** Who did it. */
  sender: RemoteUserRef;
  /** Milliseconds since the epoch, platform time. */
  timestamp: number;
  /** True when the bridge's own platform account did it (an echo of something relayed). */
  fromSelf?: boolean;
  /**
   * The sender's profile when the platform sends it with the event (most do): the core
   * updates the ghost when it changed, without another platform call.
   */
  senderInfo?: UserInfo;
}

export interface RemoteMessage extends RemoteEventBase {
  kind: "message";
  id: string;
  text: string;
  /** Already converted to Matrix HTML by the connector's pure converters. */
  html?: string;
  msgtype?: "text" | "emote" | "notice";
  replyTo?: string;
  threadRoot?: string;
  attachments?: MediaRef[];
  /** A shared place: the message becomes an `m.location` with `text` as its body. */
  location?: RemoteLocation;
  /** A poll: the message becomes a poll start event with `text` as its fallback. */
  poll?: RemotePoll;
  /** Images the `html` shows inline (custom emoji); see {@link InlineImage}. */
  inlineImages?: InlineImage[];
  /**
   * A disappearing message: the platform deletes it this many seconds after `timestamp`, and
   * the core redacts its Matrix copy then (src/core/Disappearing.ts). A connector configured to
   * keep Matrix copies leaves it out.
   */
  expiresInSeconds?: number;
}

export interface RemoteEdit extends RemoteEventBase {
  kind: "edit";
  id: string;
  text: string;
  html?: string;
  /** The new position of a shared (live) location. */
  location?: RemoteLocation;
}

export interface RemoteDelete extends RemoteEventBase {
  kind: "delete";
  id: string;
}

export interface RemoteReaction extends RemoteEventBase {
  kind: "reaction";
  /** The message reacted to. */
  target: string;
  /** Unicode emoji or a connector-defined key. */
  key: string;
  /**
   * A custom emoji's image: the Matrix reaction's key is its mxc URI, with `key` as its
   * shortcode (MSC4027), so clients show the picture.
   */
  keyImage?: MediaRef;
}

/**
 * An image shown inside a message's text (a custom emoji): the message's `html` holds
 * `<img src="clawbridge-inline:<id>" alt="…">`, whose source the core uploads (once per
 * `ref.key`) and puts in; where it cannot, the image becomes its alt text.
 */
export interface InlineImage {
  id: string;
  ref: MediaRef;
}

/**
 * Someone's choice in a poll changed: `answers` is their whole current choice (empty: they took
 * their vote back), by the answer ids the Matrix poll has (a platform poll's {@link RemotePoll}
 * ids; for a poll the bridge sent, the {@link OutboundPoll} ids it was given). The core sends it
 * as an MSC3381 poll response by the voter's ghost.
 */
export interface RemotePollVote extends RemoteEventBase {
  kind: "poll-vote";
  /** The poll's message. */
  target: string;
  answers: string[];
  /**
   * The poll's Matrix event, when the connector knows it (a poll it sent from Matrix): a vote
   * that comes before the poll's message-map row is written is not lost.
   */
  targetEvent?: string;
}

/**
 * A poll was closed on the platform. The core ends the Matrix poll as its creator's ghost; a
 * poll that came from Matrix is ended there by its creator, so it is left alone.
 */
export interface RemotePollEnd extends RemoteEventBase {
  kind: "poll-end";
  target: string;
}

export interface RemoteReactionRemove extends RemoteEventBase {
  kind: "reaction-remove";
  target: string;
  key: string;
}

export interface RemoteTyping extends RemoteEventBase {
  kind: "typing";
  typing: boolean;
}

export interface RemoteRead extends RemoteEventBase {
  kind: "read";
  /** The last message read. */
  upTo: string;
}

export interface RemoteMember extends RemoteEventBase {
  kind: "member";
  /** Whose membership changed (the sender is who did it). */
  target: RemoteUserRef;
  membership: "join" | "leave" | "kick" | "ban";
  reason?: string;
}

export interface RemoteChatInfoChange extends RemoteEventBase {
  kind: "chat-info";
  info: Partial<ChatInfo>;
  /** The chat's picture was removed (an absent `info.avatar` only means "unchanged"). */
  avatarRemoved?: boolean;
}

/**
 * The chat's disappearing-messages timer was set, changed or turned off (a WhatsApp ephemeral
 * setting). The core remembers it for the portal, tells the room, and hands it to the connector
 * with every message relayed into the chat ({@link OutboundMessage.expiresInSeconds}).
 */
export interface RemoteDisappearingChange extends RemoteEventBase {
  kind: "disappearing";
  /** Seconds after which new messages disappear; 0: off. */
  seconds: number;
}

/**
 * A user's profile changed on the platform (a Slack `user_change`, a WhatsApp contact update).
 * It belongs to no chat: the core updates the user's ghost at once, in every room, when the
 * bridge already knows that user (an unknown user gets the profile when first seen).
 */
export interface RemoteProfileChange {
  kind: "profile";
  /** Whose profile changed. */
  sender: RemoteUserRef;
  timestamp: number;
  /**
   * The profile now. As with `senderInfo`, an absent avatar means "unchanged"; so does an
   * empty `displayName` (a platform that reported only a new picture).
   */
  info: UserInfo;
  chat?: undefined;
  fromSelf?: boolean;
  senderInfo?: undefined;
}

export type RemoteEvent =
  | RemoteProfileChange
  | RemoteMessage
  | RemoteEdit
  | RemoteDelete
  | RemoteReaction
  | RemoteReactionRemove
  | RemotePollVote
  | RemotePollEnd
  | RemoteTyping
  | RemoteRead
  | RemoteMember
  | RemoteChatInfoChange
  | RemoteDisappearingChange;

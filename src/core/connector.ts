/**
 * The contract between the core and each platform connector.
 *
 * A connector never touches Matrix or the core's tables: it reports what happened on the
 * platform as {@link RemoteEvent}s through `ConnectorContext.emit`, and when the core asks it
 * to send something it returns the remote ids of what it sent. The core stores ids, orders,
 * retries and converts nothing platform-specific.
 *
 * What a connector can do is stated once, in the types: optional features are small capability
 * interfaces (`EditHandling`, `ReactionHandling`, …) that its client class `implements`, and the
 * core checks them with the `can*` guards at the end of this file. When a Matrix user does
 * something the portal's client cannot (edit, react, delete, rename, kick), the core tells the
 * room once per feature and does not retry; typing and read receipts are dropped silently.
 * Limits (longest text, largest upload, media kinds) are the connector's own business: it splits
 * or refuses, and a refusal reaches the room as a delivery failure.
 */
import type { Logger } from "../log/Logger";
import type { RemoteEvent, RemoteMessage } from "./remoteEvents";

/** The platform's events, reported through `ConnectorContext.emit` (see remoteEvents.ts). */
export type {
  InlineImage,
  RemoteChatInfoChange,
  RemoteDelete,
  RemoteDisappearingChange,
  RemoteEdit,
  RemoteEvent,
  RemoteMember,
  RemoteMessage,
  RemotePollEnd,
  RemotePollVote,
  RemoteProfileChange,
  RemoteReaction,
  RemoteReactionRemove,
  RemoteRead,
  RemoteTyping,
} from "./remoteEvents";

export type Platform = string;

/** A chat on the platform, as seen by one login. `id` is unique within the platform. */
export interface RemoteChatRef {
  readonly id: string;
  /** A forum topic or thread inside the chat, when the platform has them. */
  readonly threadId?: string;
}

export interface RemoteUserRef {
  readonly id: string;
}

/** A stored login: one platform account (a bot token is one login). */
export interface LoginRef {
  readonly id: string;
  readonly platform: Platform;
  /** The Matrix user this login belongs to. */
  readonly ownerMxid: string;
  /** The account's id on the platform, once known. */
  readonly remoteId?: string;
  /** Connector-defined credentials (tokens). Never logged. */
  readonly credentials: Record<string, unknown>;
}

export enum ConnectionState {
  Connecting = "CONNECTING",
  Connected = "CONNECTED",
  TransientDisconnect = "TRANSIENT_DISCONNECT",
  BadCredentials = "BAD_CREDENTIALS",
  LoggedOut = "LOGGED_OUT",
}

export type ChatKind = "dm" | "group" | "channel";

export interface ChatInfo {
  name?: string;
  topic?: string;
  /** An http(s) URL or platform file handle the connector can fetch via `fetchMedia`. */
  avatar?: MediaRef;
  kind: ChatKind;
  /** Remote members to join as ghosts when the portal is created. */
  members?: RemoteUserRef[];
  /**
   * The group the chat belongs to on the platform (a Discord guild): its portal is added to a
   * Matrix space made for the group. `id` is unique within the platform.
   */
  space?: { id: string; name: string; avatar?: MediaRef };
}

export interface UserInfo {
  displayName: string;
  avatar?: MediaRef;
  /**
   * The user has no avatar now: the ghost's is removed. (An event's `senderInfo` without
   * `avatar` only means the platform did not send one.)
   */
  avatarRemoved?: boolean;
  /** True for the platform's bots and for the bridge's own account on the platform. */
  isBot?: boolean;
}

/** A piece of media known to the connector; `key` changes when the content changes. */
export interface MediaRef {
  readonly key: string;
  readonly mimetype?: string;
  readonly name?: string;
  readonly size?: number;
  /** Pixels, for images and videos, when the platform says. */
  readonly width?: number;
  readonly height?: number;
  /** Milliseconds, for audio and video, when the platform says. */
  readonly durationMs?: number;
  /** A voice message recorded in the app (not a music file): Matrix clients show a voice bubble (MSC3245). */
  readonly voice?: boolean;
  /** A voice message's loudness over time, each 0–1024 (MSC1767 audio `waveform`), when the platform says. */
  readonly waveform?: readonly number[];
  /**
   * The whole content as text, when the platform sent it inside the event (a contact's vCard):
   * uploaded as UTF-8 without `fetchMedia`. Connectors keep it small.
   */
  readonly inline?: string;
  /** A still picture of a video (or animation) that the platform provides: Matrix clients show it before playing. */
  readonly thumbnail?: MediaThumbnail;
}

/**
 * A video's thumbnail as the platform gives it: a reference fetched through `fetchMedia` (a
 * Telegram PhotoSize, a Discord media-proxy frame, a Slack thumb), or the picture inline (a
 * WhatsApp jpegThumbnail). A thumbnail that cannot be fetched leaves the video without one.
 */
export interface MediaThumbnail {
  readonly ref?: MediaRef;
  /** The picture's bytes, base64 (kept small by the platform: a few kilobytes). */
  readonly base64?: string;
  /** Pixels, when the platform says; otherwise read from the picture. */
  readonly width?: number;
  readonly height?: number;
}

/** A place on the map (WGS 84 degrees), shared as such on the platform. */
export interface RemoteLocation {
  lat: number;
  lon: number;
  /** Uncertainty radius in metres, when the platform says. */
  accuracyM?: number;
  /** What the place is (a venue's name and address), when the platform says. */
  description?: string;
}

/**
 * A poll (Matrix: an MSC3381 poll start event; the message's `text` is its fallback for
 * clients that do not show polls).
 */
export interface RemotePoll {
  question: string;
  /** The choices, each with an id unique within the poll. */
  answers: Array<{ id: string; text: string }>;
  /** Whether voters see the results before the poll ends. */
  disclosed: boolean;
  /** How many answers one voter may choose (1 or more). */
  maxSelections: number;
}

/**
 * A Matrix poll going out (from an MSC3381 poll start): a connector that has native polls sends
 * one when it fits the platform's limits, else `text` as usual. The answer ids are the Matrix
 * poll's: votes reported later ({@link RemotePollVote}) name the answers by these ids.
 */
export interface OutboundPoll {
  question: string;
  answers: Array<{ id: string; text: string }>;
  /** How many answers one voter may choose (1 or more). */
  maxSelections: number;
  /** Whether voters see the results before the poll ends. */
  disclosed: boolean;
}

export interface Media {
  data: Buffer;
  mimetype: string;
  name: string;
}

/** The sender of a Matrix message being relayed to the platform. */
export interface MatrixSender {
  mxid: string;
  displayName: string;
  /** Public http(s) URL of the avatar, if any. */
  avatarUrl?: string;
}

export interface OutboundAttachment {
  kind: "image" | "video" | "audio" | "file" | "sticker";
  media: Media;
  width?: number;
  height?: number;
  durationMs?: number;
  /** A voice message (MSC3245): sent as the platform's voice note where it has one. */
  voice?: boolean;
  /** A voice message's loudness over time, each 0–1024 (MSC1767 audio `waveform`), when Matrix says. */
  waveform?: number[];
}

export interface OutboundMessage {
  sender: MatrixSender;
  /** Plain text. */
  text: string;
  /** Matrix `formatted_body` (org.matrix.custom.html), when present. */
  html?: string;
  /** `m.emote` and `m.notice` are kept apart so connectors can render them. */
  msgtype: "text" | "emote" | "notice";
  /** Remote id of the message this one replies to, in the same chat. */
  replyTo?: string;
  /** Remote thread root id, when the Matrix event is in a thread. */
  threadRoot?: string;
  attachment?: OutboundAttachment;
  /**
   * An `m.location` whose geo URI was read. A connector that cannot share places sends `text`
   * (the event's body) as usual; so does every connector for a location it could not read.
   */
  location?: RemoteLocation;
  /** A poll (the message's `text` is its text form, for platforms or polls that cannot be native). */
  poll?: OutboundPoll;
  /**
   * The Matrix event this message relays: the key a connector derives a platform idempotency
   * key from (a Discord nonce, a WhatsApp message id), so a send repeated after a crash is
   * recognised by the platform instead of posted twice. Absent for edits.
   */
  eventId?: string;
  /** The event's origin_server_ts: nothing sent for it can be older. */
  eventTs?: number;
  /**
   * This event may have reached the platform before (a resumed or retried item whose outcome
   * was not stored): a connector without a platform-side key looks before sending again.
   */
  again?: boolean;
  /**
   * The chat has disappearing messages on (see {@link RemoteDisappearingChange}): the message
   * is sent to disappear after this many seconds, where the platform can.
   */
  expiresInSeconds?: number;
}

/** What the connector sent: one remote id per part (a long text may be split). */
export interface SentRef {
  ids: string[];
  timestamp?: number;
  /**
   * The message was sent disappearing: the core redacts the Matrix event this many seconds after
   * it was sent. Left out by a connector configured to keep Matrix copies.
   */
  expiresInSeconds?: number;
}

/** Storage a connector may use for its own tables (prefixed with its name). */
export interface ConnectorStore {
  query<R extends object = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<R[]>;
  kvGet(key: string): Promise<string | undefined>;
  kvSet(key: string, value: string): Promise<void>;
}

export interface ConnectorContext {
  /**
   * The connector's `platforms.<name>` section. A built-in connector's section has been checked
   * at load time against the schema it declares (bridges/<name>/config.ts, listed in
   * bridges/builtin.ts) with its defaults filled in; its reader turns it into its typed config.
   * A third-party connector (`module:`) gets its own keys unchecked: it validates them itself.
   */
  config: Record<string, unknown>;
  log: Logger;
  store: ConnectorStore;
  /**
   * Hand an event to the core. Resolves once it is durably queued: a connector that can
   * acknowledge to the platform (a polling offset, a Socket Mode ack) does so only then.
   */
  emit(login: LoginRef, event: RemoteEvent): Promise<void>;
  /**
   * Hands several events to the core at once (a polled batch), in order, queued durably in one
   * write. With `cursor`, the connector's key/value entry `cursor.key` is set to `cursor.value`
   * in that same write: a polling offset and the events it confirms are stored together or not
   * at all, so a crash neither loses them nor hands them out twice.
   */
  emitAll(login: LoginRef, events: RemoteEvent[], cursor?: { key: string; value: string }): Promise<void>;
  /** Reports a login's connection state; shown by `ping` and `status`. */
  stateChanged(login: LoginRef, state: ConnectionState, message?: string): void;
  /** The Matrix user id of this platform's ghost for a remote user (for mention pills). */
  ghostUserId(remoteUserId: string): string;
  /** The remote user id behind one of this platform's ghosts, or undefined for anyone else. */
  remoteUserIdOf(mxid: string): string | undefined;
}

/**
 * Where an interactive login talks to the user: their management room. Used while a login
 * is being set up (a QR code to scan, a pairing code to type), before any client exists.
 */
export interface LoginPrompt {
  /** Posts a notice. */
  say(text: string, html?: string): Promise<void>;
  /** Posts an image (a QR code) with `body` as its text; returns a handle to take it back. */
  image(media: Media, body: string): Promise<string>;
  /** Removes an image posted earlier (a QR code that expired). Failures are ignored. */
  retract(handle: string): Promise<void>;
}

export interface LoginFlow {
  id: string;
  name: string;
  description: string;
}

export interface NetworkConnector {
  /** Lowercase platform name: "telegram". Used in ghost ids, aliases and config. */
  readonly name: Platform;
  init(ctx: ConnectorContext): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
  loginFlows?(): LoginFlow[];
  /** Logins the connector brings from its config (a bot token), created at start. */
  configLogins?(): Array<Omit<LoginRef, "id">>;
  /**
   * `login <platform> <token>` in a management room: checks the token with the platform and
   * returns the login to store (its `remoteId` set). Throws an error whose message is shown
   * to the user when the token is refused.
   */
  loginWithToken?(ownerMxid: string, token: string): Promise<Omit<LoginRef, "id">>;
  /**
   * `login <platform> [args…]` for accounts linked interactively (WhatsApp's QR code or
   * pairing code): talks to the owner through `prompt` until the platform confirms, then
   * resolves with the login to store. May take minutes; the command does not wait for it.
   * Rejects with an error whose message is shown to the user.
   */
  loginInteractive?(ownerMxid: string, args: string[], prompt: LoginPrompt): Promise<Omit<LoginRef, "id">>;
  /** Must not do IO: the client connects in `connect()`. */
  clientFor(login: LoginRef): NetworkClient;
  /** Checked by `clawbridge doctor`: can the platform be reached with the configured credentials? */
  check?(): Promise<{ ok: boolean; message: string }>;
}

export interface NetworkClient {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  state(): ConnectionState;
  chatInfo(chat: RemoteChatRef): Promise<ChatInfo>;
  userInfo(user: RemoteUserRef): Promise<UserInfo>;
  sendMessage(chat: RemoteChatRef, msg: OutboundMessage): Promise<SentRef>;
  /** Fetches media the connector reported as a {@link MediaRef}. */
  fetchMedia?(ref: MediaRef): Promise<Media>;
  /**
   * `logout`: ends the session on the platform too (unlinks a WhatsApp device) and forgets
   * its credentials. Without it, logging out only disconnects.
   */
  logout?(): Promise<void>;
}

/** The capability interfaces: a client implements those its platform supports. */
export interface EditHandling {
  /** Replaces the text of a message the bridge sent (`remoteId`: its first part). */
  editMessage(chat: RemoteChatRef, remoteId: string, msg: OutboundMessage): Promise<void>;
}

export interface ReactionHandling {
  /**
   * Adds reaction `key` (a Unicode emoji, or text the connector renders) to the remote message
   * `target`, for `sender`. Returns nothing: the core keys the reaction itself (Matrix event id ↔
   * target, key, sender) and calls {@link removeReaction} with the same values when it is redacted.
   */
  sendReaction(chat: RemoteChatRef, target: string, key: string, sender: MatrixSender): Promise<void>;
  removeReaction(chat: RemoteChatRef, target: string, key: string, sender: MatrixSender): Promise<void>;
}

/**
 * Ending, from Matrix, a poll the connector sent natively (Telegram `stopPoll`, Discord's poll
 * expiry): called when the poll's creator ends it in Matrix. A poll that went out as text is
 * left as it is (the connector knows which it sent).
 */
export interface PollHandling {
  endPoll(chat: RemoteChatRef, remoteId: string): Promise<void>;
}

/**
 * A Matrix user's vote in a poll sent out as a native poll or received from the platform, cast
 * on the platform as that user's own vote: only where the login is that user's own account (a
 * personal WhatsApp login votes for its owner; a bot cannot vote for others). The connector
 * decides whom it may vote for and ignores the rest.
 */
export interface PollVoteHandling {
  votePoll(
    chat: RemoteChatRef,
    vote: {
      /** The poll's message. */
      target: string;
      /** The whole choice, by the Matrix poll's answer ids ([]: taken back). */
      answers: string[];
      sender: MatrixSender;
      /** The Matrix poll response: the key of a platform message id, as for messages. */
      eventId: string;
    },
  ): Promise<void>;
}

export interface RedactionHandling {
  deleteMessage(chat: RemoteChatRef, remoteId: string): Promise<void>;
}

export interface TypingHandling {
  /**
   * `who`: the Matrix users typing now (a personal account shows only its owner's typing).
   * Called when the set changes; `typing` is whether anyone is.
   */
  setTyping(chat: RemoteChatRef, typing: boolean, who?: readonly string[]): Promise<void>;
}

export interface ReadReceiptHandling {
  /** Matrix users (`who`) read up to the remote message `upTo`. */
  markRead(chat: RemoteChatRef, upTo: string, who?: readonly string[]): Promise<void>;
}

export interface ModerationHandling {
  kick(chat: RemoteChatRef, user: RemoteUserRef, reason?: string): Promise<void>;
  ban(chat: RemoteChatRef, user: RemoteUserRef, reason?: string): Promise<void>;
  unban(chat: RemoteChatRef, user: RemoteUserRef): Promise<void>;
}

/**
 * Silencing a member of the chat for a while without removing them (a Telegram restriction, a
 * Discord timeout). Throws a `BridgeError` saying what the bot lacks when the platform refuses.
 */
export interface MuteHandling {
  /**
   * `until`: when the mute ends, milliseconds since the epoch; undefined for as long as the
   * platform allows (Telegram: until lifted; Discord: its longest timeout, 28 days).
   */
  mute(chat: RemoteChatRef, user: RemoteUserRef, until?: number, reason?: string): Promise<void>;
  unmute(chat: RemoteChatRef, user: RemoteUserRef): Promise<void>;
}

/** Renaming the chat and changing its description from Matrix (room name and topic). */
export interface ChatInfoHandling {
  /** `by`: the Matrix user who made the change (a personal account acts only for its owner). */
  setChatName(chat: RemoteChatRef, name: string, by?: string): Promise<void>;
  setChatTopic(chat: RemoteChatRef, topic: string, by?: string): Promise<void>;
  setChatAvatar(chat: RemoteChatRef, image: Media, by?: string): Promise<void>;
}

/**
 * Relay mode decided per chat by the login's owner (a personal account, as on WhatsApp):
 * when on, Matrix users without their own login are relayed through the owner's account
 * with their name in front; when off, only the owner's own messages go out.
 */
export interface RelayHandling {
  setRelay(chat: RemoteChatRef, on: boolean): Promise<void>;
  relayEnabled(chat: RemoteChatRef): Promise<boolean>;
}

/** A question put to the admins of a remote chat (may this chat be linked to a Matrix room?). */
export interface ApprovalRequest {
  /** Unique per request, short (it travels in button data: 16 characters at most). */
  readonly id: string;
  /** The question, plain text, shown in the chat above the approve and deny controls. */
  readonly text: string;
  /** Aborted when nobody decided in time: the controls are withdrawn and the promise rejects. */
  readonly signal: AbortSignal;
}

export interface ApprovalDecision {
  approved: boolean;
  /** Who decided, as the platform names them (for the answer in Matrix). */
  by: string;
}

/**
 * Consent from a remote chat, for actions through a shared bot that the chat must agree to.
 * The connector posts the question with approve and deny controls (buttons where the platform
 * has them) and resolves with the first decision of an admin or moderator of that chat; anyone
 * else who answers is told they may not decide, and the request stays open.
 */
export interface ApprovalHandling {
  requestApproval(chat: RemoteChatRef, request: ApprovalRequest): Promise<ApprovalDecision>;
}

/**
 * Starting a direct chat from Matrix (`pm <platform> <user>`): the platform's direct chat with a
 * person, opened where the platform needs that (a Discord DM channel, a Slack IM) or found
 * (Telegram: the person must have started the bot; WhatsApp: the number must be on WhatsApp).
 */
export interface DirectChatHandling {
  /**
   * The direct chat with `typed` (a user id, a mention, a phone number, as the platform's people
   * write them). Throws a `BridgeError` saying why when the platform will not have it (unknown
   * person, not on the platform). `note`: what the user should know (a Telegram person must
   * have started the bot before messages reach them).
   */
  openDirectChat(typed: string): Promise<{ chat: RemoteChatRef; note?: string }>;
}

/**
 * Reading the chat a user names in `link <platform> <chat>`. People type or paste a chat in many
 * forms (a phone number with spaces, a channel mention, a link copied from the app); the portal
 * of a chat has one key, the chat id this login's events carry. Without this capability the
 * core takes the typed text as the chat id.
 */
export interface ChatIdHandling {
  /**
   * The chat id of `typed` as this login's events carry it (the portal key: `<chat>/<thread>`
   * for a thread bridged as its own room). May ask the platform (a Telegram @username). Throws a
   * `BridgeError` (src/core/errors.ts) whose text says which forms are understood when `typed` is none of them.
   */
  resolveChatId(typed: string): Promise<string>;
  /**
   * Other portal keys under which the same chat may already be bridged: the chat seen through
   * another login of the platform (a WhatsApp direct chat from the other account), or a form
   * stored before ids were resolved. Must not do IO.
   */
  sameChatIds(chatId: string): string[];
}

export interface BackfillHandling {
  /** Messages after `afterId` (exclusive), oldest first. */
  fetchMessagesAfter(
    chat: RemoteChatRef,
    afterId: string | undefined,
    limit: number,
  ): Promise<RemoteMessage[]>;
}

/**
 * Reading a chat's recent history when its portal is made (`backfill.initial_limit`), so a new
 * room does not start empty. Telegram's Bot API has no such call; WhatsApp gives history once,
 * when a device is linked (history sync), and its connector answers from what it kept of it.
 */
export interface HistoryHandling {
  /**
   * The chat's newest messages, at most `limit`, oldest first, each as a live message of the chat
   * would come (same ids, senders, timestamps, attachments, replies). An empty list when there
   * are none or the platform keeps none.
   */
  history(chat: RemoteChatRef, limit: number): Promise<RemoteMessage[]>;
}

/**
 * Optional: the platform's order of its message ids, for the core's catch-up. `orderKey` turns a
 * remote message id into text whose byte order (PostgreSQL collation "C") is the order the
 * platform gives its messages in a chat, exactly: Slack ts compared as digits (not as floats),
 * snowflakes and integer ids by length and then digits (see src/core/orderKey.ts). Undefined for an
 * id it cannot order. Without it, the newest bridged message of a chat is the one with the latest
 * timestamp, which is arbitrary among messages of the same millisecond.
 */
export interface OrderedIds {
  orderKey(remoteId: string): string | undefined;
}

function has<T>(client: object, method: string): client is object & T {
  return typeof (client as Record<string, unknown>)[method] === "function";
}

export const canEdit = (c: NetworkClient): c is NetworkClient & EditHandling => has(c, "editMessage");
export const canReact = (c: NetworkClient): c is NetworkClient & ReactionHandling => has(c, "sendReaction");
export const canRedact = (c: NetworkClient): c is NetworkClient & RedactionHandling =>
  has(c, "deleteMessage");
export const canType = (c: NetworkClient): c is NetworkClient & TypingHandling => has(c, "setTyping");
export const canMarkRead = (c: NetworkClient): c is NetworkClient & ReadReceiptHandling => has(c, "markRead");
export const canModerate = (c: NetworkClient): c is NetworkClient & ModerationHandling => has(c, "kick");
export const canMute = (c: NetworkClient): c is NetworkClient & MuteHandling => has(c, "mute");
export const canSetChatInfo = (c: NetworkClient): c is NetworkClient & ChatInfoHandling =>
  has(c, "setChatName");
export const canRelay = (c: NetworkClient): c is NetworkClient & RelayHandling => has(c, "setRelay");
export const canVotePoll = (c: NetworkClient): c is NetworkClient & PollVoteHandling => has(c, "votePoll");
export const canEndPoll = (c: NetworkClient): c is NetworkClient & PollHandling => has(c, "endPoll");
export const canOrder = (c: NetworkClient): c is NetworkClient & OrderedIds => has(c, "orderKey");
export const canBackfill = (c: NetworkClient): c is NetworkClient & BackfillHandling =>
  has(c, "fetchMessagesAfter");
export const canReadHistory = (c: NetworkClient): c is NetworkClient & HistoryHandling => has(c, "history");
export const canAskApproval = (c: NetworkClient): c is NetworkClient & ApprovalHandling =>
  has(c, "requestApproval");
export const canResolveChatId = (c: NetworkClient): c is NetworkClient & ChatIdHandling =>
  has(c, "resolveChatId");
export const canOpenDirectChat = (c: NetworkClient): c is NetworkClient & DirectChatHandling =>
  has(c, "openDirectChat");

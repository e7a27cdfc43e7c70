/**
 * Polls (MSC3381) past their start: a Matrix poll read for a platform's native poll, votes and
 * ends from platforms as poll response and poll end events. Pure functions plus the inbound
 * delivery of the two poll events; the start event itself is in richContent.ts.
 */
import { Logger } from "../log/Logger";
import type { Intent, RoomEvent, RoomEventContent } from "../matrix/MatrixApi";
import type { MessageRow, Portal } from "../store/types";
import {
  canEndPoll,
  canVotePoll,
  type MatrixSender,
  type NetworkClient,
  type OutboundPoll,
  type RemoteChatRef,
  type RemotePollEnd,
  type RemotePollVote,
} from "./connector";
import { MAX_POLL_ANSWERS, MAX_POLL_TEXT, POLL_START } from "./richContent";

const log = new Logger("polls");

/** Unstable (what Element sends) and stable event types. */
export const POLL_RESPONSE = "org.matrix.msc3381.poll.response";
export const POLL_END = "org.matrix.msc3381.poll.end";
export const POLL_END_TYPES = new Set([POLL_END, "m.poll.end"]);
export const POLL_RESPONSE_TYPES = new Set([POLL_RESPONSE, "m.poll.response"]);

/** The answers of a Matrix poll response (unstable or stable form), cleaned; undefined when it has none. */
export function responseAnswersOf(content: unknown): string[] | undefined {
  if (!isObj(content)) return undefined;
  const unstable = content[POLL_RESPONSE];
  const raw = isObj(unstable) ? unstable.answers : content["m.selections"];
  return Array.isArray(raw) ? cleanAnswers(raw) : undefined;
}

const TEXT = "org.matrix.msc1767.text";
/** Longest answer id taken (MSC3381 sets none; Element's are short). */
const MAX_ANSWER_ID = 100;

type Content = Record<string, unknown>;
const isObj = (v: unknown): v is Content => typeof v === "object" && v !== null && !Array.isArray(v);

/** A text in either MSC1767 form: a string under the key, or an array of `{ body, mimetype }`. */
function textOf(v: unknown): string {
  if (typeof v === "string") return v;
  if (!isObj(v)) return "";
  const t = v[TEXT] ?? v["m.text"] ?? v.body;
  if (typeof t === "string") return t;
  if (Array.isArray(t)) {
    const plain = t.find(
      (r) => isObj(r) && typeof r.body === "string" && (r.mimetype ?? "text/plain") === "text/plain",
    );
    const any = plain ?? t.find((r) => isObj(r) && typeof r.body === "string");
    return isObj(any) ? String(any.body) : "";
  }
  return "";
}

/**
 * The poll a Matrix poll start describes (unstable or stable form), for connectors with native
 * polls; undefined when it has no question or no answer with an id and a text. Answers keep
 * their order; duplicates and malformed ones are left out.
 */
export function outboundPollOf(content: unknown): OutboundPoll | undefined {
  if (!isObj(content)) return undefined;
  const poll = content[POLL_START] ?? content["m.poll"];
  if (!isObj(poll)) return undefined;
  const question = textOf(poll.question).trim().slice(0, MAX_POLL_TEXT);
  if (!question) return undefined;
  const seen = new Set<string>();
  const answers: OutboundPoll["answers"] = [];
  for (const a of Array.isArray(poll.answers) ? poll.answers.slice(0, MAX_POLL_ANSWERS) : []) {
    if (!isObj(a)) continue;
    const id = a.id ?? a["m.id"];
    const text = textOf(a).trim().slice(0, MAX_POLL_TEXT);
    if (typeof id !== "string" || id === "" || id.length > MAX_ANSWER_ID || seen.has(id) || !text) continue;
    seen.add(id);
    answers.push({ id, text });
  }
  if (answers.length === 0) return undefined;
  const max =
    typeof poll.max_selections === "number" && Number.isInteger(poll.max_selections)
      ? poll.max_selections
      : 1;
  const kind = poll.kind;
  return {
    question,
    answers,
    maxSelections: Math.min(Math.max(1, max), answers.length),
    disclosed: kind !== "org.matrix.msc3381.poll.undisclosed" && kind !== "m.poll.undisclosed",
  };
}

/** The poll start event a poll end (or response) refers to, or undefined when it refers to none. */
export function pollReferenceOf(content: unknown): string | undefined {
  if (!isObj(content)) return undefined;
  const rel = content["m.relates_to"];
  if (!isObj(rel) || rel.rel_type !== "m.reference") return undefined;
  return typeof rel.event_id === "string" && rel.event_id.startsWith("$") ? rel.event_id : undefined;
}

/** Answer ids as a poll response carries them: strings, deduplicated, at most 20. */
export function cleanAnswers(answers: unknown): string[] {
  if (!Array.isArray(answers)) return [];
  const out = new Set<string>();
  for (const a of answers) {
    if (out.size >= MAX_POLL_ANSWERS) break;
    if (typeof a === "string" && a !== "" && a.length <= MAX_ANSWER_ID) out.add(a);
  }
  return [...out];
}

/** A poll response: `answers` empty takes the voter's earlier vote back (MSC3381 spoils it). */
export function pollResponseContent(startEventId: string, answers: readonly string[]): RoomEventContent {
  return {
    "m.relates_to": { rel_type: "m.reference", event_id: startEventId },
    [POLL_RESPONSE]: { answers: [...answers] },
  };
}

/** A poll end with its text for clients that do not show polls. */
export function pollEndContent(startEventId: string): RoomEventContent {
  const text = "The poll has ended.";
  return {
    "m.relates_to": { rel_type: "m.reference", event_id: startEventId },
    [POLL_END]: {},
    [TEXT]: text,
    body: text,
  };
}

/** What the inbound side lends the delivery of poll events. */
export interface PollDeps {
  /** The bridged copies of a remote message in the portal's room. */
  rowsHere(portal: Portal, remoteId: string): Promise<MessageRow[]>;
  /** The sender's ghost, joined to the portal's room. */
  ghost(): Promise<Intent>;
  isGhost(mxid: string, platform: string): boolean;
  intentOf(mxid: string): Intent;
  txnId(...parts: Array<string | number>): string;
  /**
   * What tells the event from any other (its durable queue item's id): the same voter making
   * the same choice again within a millisecond (a backlog read after a restart) is a vote of its
   * own, while a retry of one vote keeps its transaction id.
   */
  eventKey?: string;
}

/** A vote or an end of a poll, from a platform, into the portal's room. */
export async function deliverPollEvent(
  portal: Portal,
  event: RemotePollVote | RemotePollEnd,
  deps: PollDeps,
): Promise<void> {
  const where = {
    platform: portal.platform,
    chat: portal.chatId,
    poll: typeof event.target === "string" ? event.target.slice(0, 100) : typeof event.target,
  };
  const start = typeof event.target === "string" ? (await deps.rowsHere(portal, event.target))[0] : undefined;
  // A vote in a poll sent from Matrix may come before the poll's message-map row is written
  // (the voter was quick): the connector names the poll's event then.
  const known =
    event.kind === "poll-vote" &&
    typeof event.targetEvent === "string" &&
    /^\$[^\s]{1,255}$/.test(event.targetEvent)
      ? event.targetEvent
      : undefined;
  const startId = start?.eventId ?? known;
  if (!startId) {
    log.info(`${event.kind} of a poll that was never bridged skipped`, where);
    return;
  }
  if (event.kind === "poll-vote") {
    if (!Array.isArray(event.answers)) {
      log.warn("poll vote without answers dropped", where);
      return;
    }
    const answers = cleanAnswers(event.answers);
    const intent = await deps.ghost();
    await intent.sendEvent(
      portal.roomId,
      POLL_RESPONSE,
      pollResponseContent(startId, answers),
      deps.txnId(
        portal.platform,
        portal.chatId,
        "vote",
        event.target,
        event.sender.id,
        event.timestamp,
        answers.join("\n"),
        deps.eventKey ?? "",
      ),
    );
    return;
  }
  // Only the creator's ghost can end a poll in Matrix: a poll from Matrix (or another platform)
  // was ended there by its creator, and this is its echo.
  if (!start || !deps.isGhost(start.senderMxid, portal.platform)) {
    log.debug("end of a poll created elsewhere left alone", where);
    return;
  }
  await deps
    .intentOf(start.senderMxid)
    .sendEvent(
      portal.roomId,
      POLL_END,
      pollEndContent(start.eventId),
      deps.txnId(portal.platform, portal.chatId, "poll-end", event.target),
    );
}

/**
 * A Matrix poll end or vote for one linked chat. The end: only its creator's (clients show no
 * other), on a poll the connector can close (`PollHandling`). The vote: where the connector
 * takes it as the voter's own (`PollVoteHandling`); anywhere else it stays in Matrix.
 */
export async function relayPollEvent(
  client: NetworkClient,
  chat: RemoteChatRef,
  ev: RoomEvent,
  deps: {
    /** The start event's message-map row for this chat. */
    rowOf(eventId: string): Promise<MessageRow | undefined>;
    sender(): Promise<MatrixSender>;
  },
): Promise<void> {
  const start = pollReferenceOf(ev.content);
  const where = { room: ev.room_id, event: ev.event_id };
  if (!start) return;
  if (POLL_END_TYPES.has(ev.type)) {
    if (!canEndPoll(client)) return;
    const row = await deps.rowOf(start);
    if (!row) log.info("end of a poll that was never bridged skipped", where);
    else if (row.senderMxid !== ev.sender) log.info("end of someone else's poll not relayed", where);
    else await client.endPoll(chat, row.remoteId);
    return;
  }
  const answers = responseAnswersOf(ev.content);
  if (!answers || !POLL_RESPONSE_TYPES.has(ev.type) || !canVotePoll(client)) return;
  const row = await deps.rowOf(start);
  if (!row) return;
  await client.votePoll(chat, {
    target: row.remoteId,
    answers,
    sender: await deps.sender(),
    eventId: ev.event_id,
  });
}

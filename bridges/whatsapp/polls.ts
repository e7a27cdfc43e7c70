/**
 * WhatsApp polls: Matrix polls go out as native ones (baileys `poll`), and votes come back.
 *
 * A WhatsApp vote (`pollUpdateMessage`) is encrypted with a key derived from the poll's
 * `messageSecret`, the poll's id, its creator's and the voter's JIDs, and names the chosen
 * options by the SHA-256 of their text. So each poll the bridge sends or receives is
 * remembered in the connector's key/value store (`poll:<message id>`): its secret, its creator,
 * and the hash and Matrix answer id of each option. Baileys 7.0.0-rc14 no longer decrypts votes
 * itself (its code for it is commented out); its `decryptPollVote` does the cipher.
 */
import { createHash, createHmac, randomBytes } from "node:crypto";
import type { AnyMessageContent, proto } from "@whiskeysockets/baileys";
import type { ConnectorStore, OutboundPoll } from "../../src/core/connector";
import { baileys } from "./baileys";

/** What WhatsApp's app takes in a poll. */
export const WA_POLL = { minOptions: 2, maxOptions: 12, name: 255, option: 100 } as const;

/** What is remembered of one poll. */
export interface WaPollRecord {
  /** The poll's messageSecret, base64. */
  secret: string;
  /** The creator's JID (no device), as the vote's key derivation uses it. */
  creator: string;
  /** sha256(option text) in hex → Matrix answer id. */
  options: Record<string, string>;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const hashOf = (text: string): string => createHash("sha256").update(text).digest("hex");

/**
 * A Matrix poll as baileys' poll content with a fresh secret, `name` its question; undefined
 * when it does not fit (WhatsApp's limits, or two answers with the same text: votes name
 * options by their text).
 */
export function whatsappPoll(
  poll: OutboundPoll,
  name: string,
  /** The key of an earlier attempt at the same message; a fresh one without. */
  secret: Buffer = randomBytes(32),
): { content: AnyMessageContent; secret: Buffer } | undefined {
  const values = poll.answers.map((a) => a.text);
  if (!name.trim() || name.length > WA_POLL.name) return undefined;
  if (values.length < WA_POLL.minOptions || values.length > WA_POLL.maxOptions) return undefined;
  if (values.some((v) => !v.trim() || v.length > WA_POLL.option) || new Set(values).size !== values.length)
    return undefined;
  // 0: any number of answers; WhatsApp's app offers one or any.
  const selectableCount = poll.maxSelections > 1 ? 0 : 1;
  return { content: { poll: { name, values, selectableCount, messageSecret: secret } }, secret };
}

/** The record of a poll with the given option texts and their Matrix answer ids. */
export function pollRecord(
  secret: Uint8Array,
  creator: string,
  options: ReadonlyArray<{ text: string; id: string }>,
): WaPollRecord {
  const out: Record<string, string> = {};
  for (const o of options) out[hashOf(o.text)] = o.id;
  return { secret: Buffer.from(secret).toString("base64"), creator, options: out };
}

/** The record of a received poll message (answer ids by position, as convert/rich.ts pollOf gives them). */
export function receivedPollRecord(m: proto.IMessage, creator: string): WaPollRecord | undefined {
  const poll =
    m.pollCreationMessage ?? m.pollCreationMessageV2 ?? m.pollCreationMessageV3 ?? m.pollCreationMessageV5;
  const secret = m.messageContextInfo?.messageSecret;
  if (!poll || !secret?.length || !Array.isArray(poll.options)) return undefined;
  const options = poll.options.flatMap((o, i) =>
    typeof o?.optionName === "string" && o.optionName ? [{ text: o.optionName, id: String(i) }] : [],
  );
  return pollRecord(secret, creator, options);
}

export async function rememberPoll(store: ConnectorStore, id: string, rec: WaPollRecord): Promise<void> {
  await store.kvSet(`poll:${id}`, JSON.stringify(rec));
}

export async function recallPoll(store: ConnectorStore, id: string): Promise<WaPollRecord | undefined> {
  try {
    const raw = await store.kvGet(`poll:${id}`);
    const rec: unknown = raw ? JSON.parse(raw) : undefined;
    return isObj(rec) &&
      typeof rec.secret === "string" &&
      typeof rec.creator === "string" &&
      isObj(rec.options)
      ? (rec as unknown as WaPollRecord)
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The Matrix answer ids a vote chose ([] when the voter took their vote back), or why it cannot
 * be read (a wrong key, a tampered payload, an option the poll does not have).
 */
export function decryptVote(
  update: proto.Message.IPollUpdateMessage,
  pollId: string,
  rec: WaPollRecord,
  voterJid: string,
): string[] | string {
  const vote = update.vote;
  if (!vote?.encPayload?.length || !vote.encIv?.length) return "vote without its encrypted payload";
  let selected: Uint8Array[];
  try {
    selected = baileys().decryptPollVote(vote, {
      pollCreatorJid: rec.creator,
      pollMsgId: pollId,
      pollEncKey: Buffer.from(rec.secret, "base64"),
      voterJid,
    }).selectedOptions as Uint8Array[];
  } catch (err) {
    return `vote not decrypted (${err instanceof Error ? err.message : String(err)})`;
  }
  const ids: string[] = [];
  for (const h of Array.isArray(selected) ? selected : []) {
    const hex = Buffer.from(h).toString("hex");
    if (!Object.hasOwn(rec.options, hex)) return "vote for an option the poll does not have";
    ids.push(rec.options[hex]!);
  }
  return [...new Set(ids)];
}

/**
 * A vote as WhatsApp's app makes it: the chosen options' hashes, encrypted for the poll (the
 * inverse of decryptVote); undefined when an answer is not one of the poll's.
 */
export function encryptVote(
  rec: WaPollRecord,
  pollKey: proto.IMessageKey,
  voterJid: string,
  answers: readonly string[],
): proto.IMessage | undefined {
  const byId = new Map(Object.entries(rec.options).map(([hash, id]) => [id, hash]));
  const hashes = answers.map((a) => byId.get(a));
  if (hashes.some((h) => h === undefined)) return undefined;
  const b = baileys();
  const pollId = pollKey.id ?? "";
  const sign = Buffer.concat([
    Buffer.from(pollId),
    Buffer.from(rec.creator),
    Buffer.from(voterJid),
    Buffer.from("Poll Vote"),
    new Uint8Array([1]),
  ]);
  const key0 = createHmac("sha256", new Uint8Array(32)).update(Buffer.from(rec.secret, "base64")).digest();
  const encKey = createHmac("sha256", key0).update(sign).digest();
  const plain = b.proto.Message.PollVoteMessage.encode({
    selectedOptions: hashes.map((h) => Buffer.from(h!, "hex")),
  }).finish();
  const iv = randomBytes(12);
  const encPayload = b.aesEncryptGCM(plain, encKey, iv, Buffer.from(`${pollId}\u0000${voterJid}`));
  return {
    pollUpdateMessage: {
      pollCreationMessageKey: pollKey,
      vote: { encPayload, encIv: iv },
      senderTimestampMs: Date.now(),
    },
  };
}

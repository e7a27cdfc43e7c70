/**
 * A WhatsApp vote as a phone makes it: a `pollUpdateMessage` whose `vote` is the
 * PollVoteMessage (the SHA-256 of each chosen option's text), AES-GCM encrypted with a key
 * derived from the poll's messageSecret, its id and the creator's and voter's JIDs (the mirror
 * of baileys' decryptPollVote).
 */
import { createHash, randomBytes } from "node:crypto";
import type { proto } from "@whiskeysockets/baileys";
import { loadBaileys } from "../../../bridges/whatsapp/baileys";

export async function pollVoteMessage(v: {
  /** The poll message's key (its chat, id, and whether the account itself sent it). */
  pollKey: proto.IMessageKey;
  creatorJid: string;
  voterJid: string;
  secret: Uint8Array;
  /** The chosen options' texts; [] takes the vote back. */
  chosen: string[];
}): Promise<proto.IMessage> {
  const b = await loadBaileys();
  const pollId = v.pollKey.id ?? "";
  const sign = Buffer.concat([
    Buffer.from(pollId),
    Buffer.from(v.creatorJid),
    Buffer.from(v.voterJid),
    Buffer.from("Poll Vote"),
    new Uint8Array([1]),
  ]);
  const key0 = b.hmacSign(v.secret, new Uint8Array(32), "sha256");
  const encKey = b.hmacSign(sign, key0, "sha256");
  const plain = b.proto.Message.PollVoteMessage.encode({
    selectedOptions: v.chosen.map((t) => createHash("sha256").update(t).digest()),
  }).finish();
  const iv = randomBytes(12);
  const encPayload = b.aesEncryptGCM(plain, encKey, iv, Buffer.from(`${pollId}\u0000${v.voterJid}`));
  return {
    pollUpdateMessage: {
      pollCreationMessageKey: v.pollKey,
      vote: { encPayload, encIv: iv },
      senderTimestampMs: Date.now(),
    },
  };
}

/** The option texts a vote chose, read as the poll's other members' phones read it; throws on a wrong key. */
export async function readVote(
  update: proto.Message.IPollUpdateMessage,
  v: { creatorJid: string; voterJid: string; secret: Uint8Array; options: string[] },
): Promise<string[]> {
  const b = await loadBaileys();
  const pollId = update.pollCreationMessageKey?.id ?? "";
  const sign = Buffer.concat([
    Buffer.from(pollId),
    Buffer.from(v.creatorJid),
    Buffer.from(v.voterJid),
    Buffer.from("Poll Vote"),
    new Uint8Array([1]),
  ]);
  const key = b.hmacSign(sign, b.hmacSign(v.secret, new Uint8Array(32), "sha256"), "sha256");
  const plain = b.aesDecryptGCM(
    update.vote?.encPayload ?? new Uint8Array(),
    key,
    update.vote?.encIv ?? new Uint8Array(),
    Buffer.from(`${pollId}\u0000${v.voterJid}`),
  );
  const chosen = b.proto.Message.PollVoteMessage.decode(plain).selectedOptions ?? [];
  const byHash = new Map(v.options.map((o) => [createHash("sha256").update(o).digest("hex"), o]));
  return chosen.map((h) => byHash.get(Buffer.from(h).toString("hex")) ?? "?");
}

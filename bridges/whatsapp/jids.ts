/**
 * WhatsApp ids (JIDs) ↔ the bridge's chat and user ids.
 *
 * A group (`<id>@g.us`) is the same chat for every login in it, so its chat id is the JID. A
 * direct chat is different for each account, so its chat id carries the account's number:
 * `<own number>_<contact JID>`. Users are keyed by phone number; a user known only by a
 * privacy id (`@lid`) keeps the full `<id>@lid`.
 */
export const USER_SERVER = "s.whatsapp.net";

/** `15551234567:3@s.whatsapp.net` → `15551234567`; `123@lid` → `123@lid`. */
export function userIdOf(jid: string): string {
  const at = jid.indexOf("@");
  const user = (at < 0 ? jid : jid.slice(0, at)).split(":")[0];
  const server = at < 0 ? USER_SERVER : jid.slice(at + 1);
  return server === "lid" ? `${user}@lid` : user;
}

/** The JID of a user id (the inverse of {@link userIdOf}). */
export function jidOfUser(userId: string): string {
  return userId.includes("@") ? userId : `${userId}@${USER_SERVER}`;
}

export const isGroupJid = (jid: string): boolean => jid.endsWith("@g.us");

/** The chat id of a conversation of the account `ownNumber`. */
export function chatIdOf(ownNumber: string, remoteJid: string): string {
  return isGroupJid(remoteJid) ? remoteJid : `${ownNumber}_${jidOfUser(userIdOf(remoteJid))}`;
}

/** The JID to send to for a chat id. */
export function jidOfChat(chatId: string): string {
  if (isGroupJid(chatId)) return chatId;
  const sep = chatId.indexOf("_");
  return sep < 0 ? jidOfUser(chatId) : chatId.slice(sep + 1);
}

/** The account number a direct chat id belongs to (undefined for groups). */
export function ownerNumberOfChat(chatId: string): string | undefined {
  if (isGroupJid(chatId)) return undefined;
  const sep = chatId.indexOf("_");
  return sep < 0 ? undefined : chatId.slice(0, sep);
}

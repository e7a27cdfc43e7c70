/**
 * The Telegram chat a person names in `link telegram <chat>`: a chat id (`-1001234567890`,
 * `-1001234567890/7` for a forum topic), a private group's message link
 * (`https://t.me/c/1234567890/55`), or a public group's or channel's name (`@name`,
 * `https://t.me/name`), which only the Bot API can turn into an id. Pure.
 */
import { BridgeError } from "../../src/core/errors";

export type TypedChat = { id: string } | { username: string };

const FORMS =
  "give the chat id (-1001234567890), a link to one of its messages (https://t.me/c/1234567890/55) or, for a public group or channel, its name (@name or https://t.me/name)";

/** Telegram usernames: 5 to 32 characters, a letter first, letters, digits and underscores. */
const USERNAME = /^[a-z][a-z0-9_]{3,30}[a-z0-9]$/i;
/** Chat ids fit in 52 bits; a supergroup's or channel's is -100 followed by its internal id. */
const CHAT_ID = /^-?[1-9]\d{0,15}$/;

function refuse(typed: string, why?: string): never {
  const shown = typed.length > 80 ? `${typed.slice(0, 80)}…` : typed;
  throw new BridgeError(`'${shown}' is not a Telegram chat${why ? ` (${why})` : ""}: ${FORMS}.`);
}

/** `-0012` → undefined; `-1001234` → `-1001234`. */
function chatId(text: string): string | undefined {
  return CHAT_ID.test(text) ? text : undefined;
}

/** What `typed` names; throws a BridgeError listing the forms understood. */
export function parseTypedChat(typed: string): TypedChat {
  const t = typed.trim();
  if (!t || t.length > 200) refuse(t);
  const topic = /^(-?\d+)\/(\d+)$/.exec(t);
  if (topic) {
    const id = chatId(topic[1]);
    if (!id || !/^[1-9]\d{0,9}$/.test(topic[2])) refuse(t);
    return { id: `${id}/${topic[2]}` };
  }
  const id = chatId(t);
  if (id) return { id };
  if (t.startsWith("@")) {
    if (!USERNAME.test(t.slice(1))) refuse(t);
    return { username: t.slice(1).toLowerCase() };
  }
  const link = /^(?:https?:\/\/)?(?:www\.)?(?:t|telegram)\.(?:me|dog)\/(.+?)\/?$/i.exec(t);
  const resolve = /^tg:\/\/resolve\?(?:.*&)?domain=([^&#]+)/i.exec(t);
  if (resolve) {
    if (!USERNAME.test(resolve[1])) refuse(t);
    return { username: resolve[1].toLowerCase() };
  }
  if (!link) refuse(t);
  const path = link[1].replace(/[?#].*$/, "").split("/");
  if (path[0] === "c") {
    // t.me/c/<internal id>[/<topic>]/<message>: the private supergroup -100<internal id>.
    const internal = path[1] ?? "";
    if (!/^[1-9]\d{0,12}$/.test(internal) || path.length > 4 || !path.slice(2).every((p) => /^\d+$/.test(p)))
      refuse(t);
    return path.length === 4 ? { id: `-100${internal}/${path[2]}` } : { id: `-100${internal}` };
  }
  if (path[0].startsWith("+") || path[0] === "joinchat")
    refuse(t, "a bot cannot follow an invite link; add the bot to the group and give the group's id");
  if (!USERNAME.test(path[0]) || path.length > 3 || !path.slice(1).every((p) => /^\d+$/.test(p))) refuse(t);
  return { username: path[0].toLowerCase() };
}

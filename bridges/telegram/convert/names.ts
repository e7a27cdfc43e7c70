/** The parts of a Telegram user (or private chat) that make up a display name. */
export interface TelegramNameParts {
  first_name: string;
  last_name?: string;
  username?: string;
}

/** The parts of a Telegram chat that make up its title; a private chat has no title, only the other party's name. */
export interface TelegramChatTitleParts {
  type: string;
  title?: string;
  first_name?: string;
  last_name?: string;
  username?: string;
}

/** "First Last" as Telegram clients show it; the username only when both names are blank. */
export function userDisplayName(user: TelegramNameParts): string {
  const full = [user.first_name, user.last_name ?? ""]
    .map((part) => part.trim())
    .filter((part) => part !== "")
    .join(" ");
  if (full !== "") return full;
  return user.username !== undefined && user.username !== "" ? `@${user.username}` : "";
}

/** A chat's title, or for a private chat the other party's name. */
export function chatTitle(chat: TelegramChatTitleParts): string {
  const title = chat.title?.trim();
  if (title) return title;
  return userDisplayName({
    first_name: chat.first_name ?? "",
    last_name: chat.last_name,
    username: chat.username,
  });
}

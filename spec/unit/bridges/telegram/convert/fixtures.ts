import { readFileSync } from "node:fs";
import path from "node:path";
import type { Message, MessageEntity } from "grammy/types";

const FIXTURES = path.resolve(__dirname, "../../../../fixtures/telegram");

/** One row of spec/fixtures/telegram/entities.json. */
export interface EntityCase {
  name: string;
  text: string;
  entities: MessageEntity[];
  /** Expected Matrix formatted_body, null when the message stays plain. */
  html: string | null;
  /** Expected Telegram HTML after converting that Matrix content back. */
  telegramHtml: string;
}

export function entityCases(): EntityCase[] {
  return JSON.parse(readFileSync(path.join(FIXTURES, "entities.json"), "utf8")) as EntityCase[];
}

export function recordedMessage(name: string): Message {
  return JSON.parse(readFileSync(path.join(FIXTURES, "messages", `${name}.json`), "utf8")) as Message;
}

/** Ghost mapping used across the specs: Telegram user 42 has a ghost, nobody else does. */
export const GHOST_42 = "@_telegram_42:example.org";

export function userPill(userId: number): string | undefined {
  return userId === 42 ? GHOST_42 : undefined;
}

export function pillToTelegramUser(mxid: string): { id: number; name: string } | undefined {
  return mxid === GHOST_42 ? { id: 42, name: "Alice Smith" } : undefined;
}

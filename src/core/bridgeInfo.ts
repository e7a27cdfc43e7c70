/**
 * The bridge info state of a portal room (MSC2346): clients show which network a room bridges,
 * and to which chat. One state event per linked chat, under both the spec's `m.bridge` and the
 * `uk.half-shot.bridge` that Element reads; an empty content removes it (unlink).
 */
import { Logger } from "../log/Logger";
import { type Intent, MatrixError } from "../matrix/MatrixApi";

const log = new Logger("bridgeInfo");

export const BRIDGE_INFO_TYPES = ["m.bridge", "uk.half-shot.bridge"] as const;

/** What the state says of one linked chat. */
export interface BridgedChat {
  platform: string;
  /** The portal key (chat id, or `<chat>/<thread>`). */
  chatId: string;
  /** The chat's name on the platform. */
  name?: string;
  /** mxc URL of the chat's picture, when the bridge brought it over. */
  avatarUrl?: string;
}

export function bridgeInfoStateKey(platform: string, chatId: string): string {
  return `clawbridge/${platform}/${chatId}`;
}

export function bridgeInfoContent(bridgebot: string, chat: BridgedChat): Record<string, unknown> {
  const channel: Record<string, unknown> = { id: chat.chatId };
  if (chat.name) channel.displayname = chat.name;
  if (chat.avatarUrl) channel.avatar_url = chat.avatarUrl;
  return {
    bridgebot,
    protocol: { id: chat.platform, displayname: chat.platform[0].toUpperCase() + chat.platform.slice(1) },
    channel,
  };
}

/** The state events of a new portal's `initial_state`. */
export function bridgeInfoInitialState(
  bridgebot: string,
  chat: BridgedChat,
): Array<{ type: string; state_key: string; content: Record<string, unknown> }> {
  const content = bridgeInfoContent(bridgebot, chat);
  const stateKey = bridgeInfoStateKey(chat.platform, chat.chatId);
  return BRIDGE_INFO_TYPES.map((type) => ({ type, state_key: stateKey, content }));
}

/**
 * Sets (or with `chat` undefined, removes) the bridge info of one linked chat in `roomId`. False
 * when the bot may not send state there (its power level is too low in a room it did not make):
 * the link works all the same, clients just do not show it as bridged. Other failures throw.
 */
export async function writeBridgeInfo(
  bot: Intent,
  roomId: string,
  key: { platform: string; chatId: string },
  chat?: BridgedChat,
): Promise<boolean> {
  const content = chat ? bridgeInfoContent(bot.userId, chat) : {};
  const stateKey = bridgeInfoStateKey(key.platform, key.chatId);
  try {
    for (const type of BRIDGE_INFO_TYPES) await bot.sendState(roomId, type, stateKey, content);
    return true;
  } catch (err) {
    if (err instanceof MatrixError && err.status === 403) {
      log.info("bridge info not set: the bot may not send state in this room", {
        room: roomId,
        platform: key.platform,
        chat: key.chatId,
      });
      return false;
    }
    throw err;
  }
}

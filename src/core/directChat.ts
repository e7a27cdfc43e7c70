import type { Portal } from "../store/types";
import type { ConnectorRegistry } from "./ConnectorRegistry";
import type { LoginRef, NetworkClient, RemoteChatRef } from "./connector";
import { canOpenDirectChat } from "./connector";
import { BridgeError } from "./errors";
import { chatKey, type PortalService } from "./PortalService";

/**
 * Why a direct chat was not opened: no such connector, no login to write from, a platform
 * that cannot open one, or the platform's no (a person it does not know, an id it cannot read).
 */
export type DirectChatRefusal = "unknown-platform" | "no-login" | "unsupported" | "refused";

/** A direct chat opened on a platform for a Matrix user, or why it was not. */
export type OpenedDirectChat =
  | { refused: string; reason: DirectChatRefusal }
  | {
      entry: { login: LoginRef; client: NetworkClient };
      chat: RemoteChatRef;
      /** What the user should know (the platform's conditions). */
      note?: string;
      /** The chat's portal, when it is bridged already. */
      existing?: Portal;
    };

/**
 * Opens the direct chat with `typed` on `platform` for `sender` (`pm`, or an invite of a
 * ghost): through the sender's own login of the platform, bridge admins also through the shared
 * one. Refusals come back as text for the user; other failures throw.
 */
export async function openDirectChat(
  deps: { registry: ConnectorRegistry; portals: Pick<PortalService, "get"> },
  sender: string,
  admin: boolean,
  platform: string,
  typed: string,
): Promise<OpenedDirectChat> {
  if (!deps.registry.connectors.has(platform))
    return { reason: "unknown-platform", refused: `There is no '${platform}' connector enabled.` };
  const entry =
    deps.registry.clientForPlatform(platform, sender, false) ??
    (admin ? deps.registry.clientForPlatform(platform) : undefined);
  if (!entry)
    return {
      reason: "no-login",
      refused: `You have no ${platform} login to write from${admin ? ", and the bridge has no shared one" : ""}: \`login ${platform}\` with the bridge bot first.`,
    };
  if (!canOpenDirectChat(entry.client))
    return { reason: "unsupported", refused: `${platform} does not let the bridge start a direct chat.` };
  try {
    const { chat, note } = await entry.client.openDirectChat(typed);
    return { entry, chat, note, existing: await deps.portals.get(platform, chatKey(chat)) };
  } catch (err) {
    if (err instanceof BridgeError) return { reason: "refused", refused: err.userMessage };
    throw err;
  }
}

import { escapeHtml } from "../../../src/format";

/** Default relay line: the sender's name in bold, then the message (already Telegram HTML). */
export const DEFAULT_RELAY_TEMPLATE = "<b>{displayname}</b>: {message}";
/** Used for emotes when the configured template is the default: "* Alice waves". */
export const DEFAULT_RELAY_EMOTE_TEMPLATE = "* <b>{displayname}</b> {message}";

/** Who a relayed message is from. */
export interface RelaySender {
  displayName: string;
  mxid: string;
}

/**
 * The Telegram HTML a relay bot sends for a Matrix user without a Telegram login. The template is trusted HTML
 * from config with `{displayname}`, `{mxid}` and `{message}`; name and mxid are escaped, the message is already
 * Telegram HTML. An emote uses the emote template when the template is the default, else gets a leading "* ".
 */
export function relayText(
  template: string,
  sender: RelaySender,
  messageHtml: string,
  msgtype: "text" | "emote" | "notice",
): string {
  let tpl = template;
  let message = messageHtml;
  if (msgtype === "emote") {
    if (template === DEFAULT_RELAY_TEMPLATE) tpl = DEFAULT_RELAY_EMOTE_TEMPLATE;
    else message = `* ${messageHtml}`;
  }
  const name = sender.displayName.trim() === "" ? sender.mxid : sender.displayName;
  const values: Record<string, string> = {
    displayname: escapeHtml(name),
    mxid: escapeHtml(sender.mxid),
    message,
  };
  // One pass, so a "{message}" typed inside a display name or message is not expanded again.
  return tpl.replace(/\{(displayname|mxid|message)\}/g, (_, key: string) => values[key]!);
}

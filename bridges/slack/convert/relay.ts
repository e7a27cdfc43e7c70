/**
 * How a Matrix user's message reads on Slack when the app may not post under other names
 * (no `chat:write.customize`): a mrkdwn prefix from `relay_template`.
 */
import { escapeSlack } from "./html";

/** Fills `{displayname}`, `{mxid}` and `{message}`; an emote reads `_name does this_`. */
export function relayText(
  template: string,
  sender: { displayName: string; mxid: string },
  mrkdwn: string,
  msgtype: "text" | "emote" | "notice",
): string {
  const name = escapeSlack(sender.displayName || sender.mxid);
  if (msgtype === "emote") return `_${name} ${mrkdwn}_`;
  return template
    .replace(/\{displayname\}/g, name)
    .replace(/\{mxid\}/g, escapeSlack(sender.mxid))
    .replace(/\{message\}/g, mrkdwn);
}

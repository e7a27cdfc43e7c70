export { emojiFromName, nameFromEmoji, reactionName, replaceShortcodes } from "./emoji";
export { escapeSlack, type HtmlContext, matrixToMrkdwn } from "./html";
export { type Converted, decodeSlack, type MrkdwnContext, mentionedUsers, mrkdwnToMatrix } from "./mrkdwn";
export { relayText } from "./relay";

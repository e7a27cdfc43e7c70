export { type EmbedLike, embedToText, splitMessage, stickerMedia } from "./embeds";
export { escapeHtml, escapeMarkdown, unescapeHtml } from "./escape";
export { type DiscordText, htmlToDiscord, type PillResolver, stripReplyFallback } from "./html";
export { discordToMatrix, type MatrixText, type MentionResolver } from "./markdown";
export { emote, prefixed, replyQuote, webhookUsername } from "./relay";

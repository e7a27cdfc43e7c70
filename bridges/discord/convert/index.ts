export { escapeHtml } from "../../../src/format";
export { type EmbedLike, embedToText, splitMessage, stickerMedia } from "./embeds";
export { escapeMarkdown } from "./escape";
export { type DiscordText, htmlToDiscord, type PillResolver, stripReplyFallback } from "./html";
export { discordToMatrix, type MatrixText, type MentionResolver } from "./markdown";
export { emote, prefixed, replyQuote, webhookUsername } from "./relay";
export { discordWaveform, oggOpusSeconds, voiceMessage } from "./voice";

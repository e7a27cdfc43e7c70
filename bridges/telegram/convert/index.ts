export { type EntitiesToHtmlOptions, entitiesToHtml } from "./entities";
export {
  escapeHtml,
  type MatrixTextContent,
  type MatrixToTelegramOptions,
  matrixToTelegramHtml,
} from "./html";
export {
  type MatrixMediaMsgtype,
  matrixMsgtypeFor,
  pickMedia,
  stickerFallbackText,
  type TelegramMedia,
  type TelegramMediaKind,
  type TelegramSendMethod,
  telegramMethodFor,
} from "./media";
export { chatTitle, type TelegramChatTitleParts, type TelegramNameParts, userDisplayName } from "./names";
export { DEFAULT_RELAY_EMOTE_TEMPLATE, DEFAULT_RELAY_TEMPLATE, type RelaySender, relayText } from "./relay";
export {
  cannotShow,
  contactMessage,
  diceMessage,
  locationMessage,
  pollMessage,
  type RichMessage,
  richMessage,
  telegramPoint,
  venueMessage,
} from "./rich";

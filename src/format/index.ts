export { decodeEntities, escapeHtml, safeUrl, urlScheme } from "./escape";
export { type LayoutRules, layoutBlocks, type QuoteMarkup, trimNewlines, wrapMarker } from "./layout";
export { type MatrixLinkTarget, matrixToUrl, parseMatrixLink, safeDecodeUri } from "./mentions";
export {
  type Block,
  type Doc,
  type Inline,
  inlineText,
  type MarkKind,
  mentionedIds,
  type Paragraph,
  plainText,
} from "./model";
export { MAX_BLOCK_DEPTH, parseMatrixHtml } from "./parseHtml";
export { renderMatrixHtml } from "./renderHtml";

/**
 * Escaping, character references and link schemes, shared by every connector's converters
 * (the one place each of these lives).
 */
import { decodeHTML } from "entities";

/**
 * Escape `& < > "` so text can sit in HTML content or a double-quoted attribute (Matrix `formatted_body`,
 * Telegram's HTML parse mode). `'` stays: nothing here writes single-quoted attributes.
 */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"]/g, (c) =>
    c === "&" ? "&amp;" : c === "<" ? "&lt;" : c === ">" ? "&gt;" : "&quot;",
  );
}

/**
 * Decode HTML character references as a browser does (named, decimal, hex; a number out of range, a
 * surrogate or NUL becomes U+FFFD). Never throws, whatever the number.
 */
export function decodeEntities(s: string): string {
  return s.includes("&") ? decodeHTML(s) : s;
}

/** Link schemes allowed through in either direction; anything else (javascript:, data:, relative) loses its link. */
const SAFE_SCHEMES = new Set(["http", "https", "ftp", "mailto", "magnet", "tg"]);

/**
 * The URL if its scheme is on the allowlist, else undefined. With `assumeHttps`, a scheme-less URL (Telegram's
 * `url` entity for "example.com") gets `https://`; without it a scheme-less URL is rejected.
 */
export function safeUrl(raw: string, assumeHttps = false): string | undefined {
  // Browsers ignore control characters and whitespace inside a scheme ("java\tscript:"), so check without them.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping control characters is the point.
  const squashed = raw.replace(/[\u0000-\u0020\u007f]/g, "");
  if (squashed === "") return undefined;
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(squashed)?.[1]?.toLowerCase();
  // "example.com:8080/x" parses as scheme "example.com"; a port after the colon means it was a host.
  const hostWithPort = scheme !== undefined && /^[^:]+:\d/.test(squashed);
  if (scheme === undefined || (hostWithPort && !SAFE_SCHEMES.has(scheme))) {
    return assumeHttps && !squashed.startsWith("/") ? `https://${raw.trim()}` : undefined;
  }
  return SAFE_SCHEMES.has(scheme) ? raw.trim() : undefined;
}

/** The scheme of a URL `safeUrl` let through, lower case ("https", "mailto", …). */
export function urlScheme(url: string): string {
  return /^\s*([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(url)?.[1]?.toLowerCase() ?? "";
}

/** Matrix pills: reading a matrix.to or `matrix:` link as a user or room, and writing one. */

/** What a pill points at. */
export interface MatrixLinkTarget {
  target: "user" | "room";
  /** `@user:hs`, `#alias:hs` or `!roomid:hs`, percent-decoded. */
  id: string;
}

const MATRIX_TO = /^https:\/\/matrix\.to\/#\/([^?]*)/i;
const MATRIX_URI = /^matrix:(u|r|roomid)\/([^/?#]+)(?:[/?#]|$)/;
const SIGIL: Record<string, string> = { u: "@", r: "#", roomid: "!" };

/** `decodeURIComponent` that keeps the raw text when it holds a malformed `%` escape. */
export function safeDecodeUri(s: string): string {
  if (!s.includes("%")) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/**
 * The user or room a link is a pill for, or undefined for any other link. A permalink to an event
 * (`https://matrix.to/#/!room:hs/$event`) is a link, not a pill.
 */
export function parseMatrixLink(href: string): MatrixLinkTarget | undefined {
  const to = MATRIX_TO.exec(href.trim());
  let id: string | undefined;
  if (to) {
    const raw = to[1]!;
    // An event permalink has a second path segment; an id never holds a "/" once decoded either.
    const first = raw.split("/")[0]!;
    if (raw.length > first.length && raw.slice(first.length + 1) !== "") return undefined;
    id = safeDecodeUri(first);
  } else {
    const uri = MATRIX_URI.exec(href.trim());
    if (uri) id = SIGIL[uri[1]!]! + safeDecodeUri(uri[2]!);
  }
  if (id === undefined || id.length < 2 || id.includes("/")) return undefined;
  if (id[0] === "@") return { target: "user", id };
  if (id[0] === "#" || id[0] === "!") return { target: "room", id };
  return undefined;
}

/**
 * A matrix.to link for a user or room. `plain` is how Element writes it (`https://matrix.to/#/@a:hs`);
 * `encoded` percent-encodes the id (`%40a%3Ahs`). Both are read back by `parseMatrixLink`.
 */
export function matrixToUrl(id: string, form: "plain" | "encoded" = "plain"): string {
  return `https://matrix.to/#/${form === "encoded" ? encodeURIComponent(id) : id}`;
}

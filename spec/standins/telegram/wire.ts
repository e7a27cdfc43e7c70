/**
 * Wire helpers for the Telegram Bot API stand-in: request body parsing (JSON, urlencoded and
 * grammy's loose multipart) and Telegram's HTML `parse_mode` (validated like the real API,
 * then reduced to plain text for assertions).
 */

/** An uploaded multipart file part. */
export interface UploadedFile {
  readonly upload: true;
  name: string;
  data: Buffer;
  contentType?: string;
}

/** Parsed request parameters: strings, JSON values and uploaded files. */
export type Params = Record<string, unknown>;

/** Thrown by method handlers; becomes `{ok:false, error_code, description}`. */
export class BotApiError extends Error {
  constructor(
    readonly errorCode: number,
    readonly description: string,
    readonly parameters?: Record<string, unknown>,
  ) {
    super(description);
  }
}

/** `400 Bad Request: <what>`, the Bot API's usual answer to a bad call. */
export const badRequest = (what: string): BotApiError => new BotApiError(400, `Bad Request: ${what}`);

export function isUpload(v: unknown): v is UploadedFile {
  return typeof v === "object" && v !== null && (v as { upload?: unknown }).upload === true;
}

/** Values in form bodies arrive as strings: objects and arrays are JSON, like the real API reads them. */
function formValue(v: string): unknown {
  if (v === "true" || v === "false") return v === "true";
  if (/^\s*[[{]/.test(v)) {
    try {
      return JSON.parse(v);
    } catch {
      return v;
    }
  }
  return v;
}

/**
 * Lenient multipart/form-data parser. grammy writes `content-disposition:form-data;name="x";
 * filename=a b.png` (no space after the colon, filename unquoted), which strict parsers reject.
 */
export function parseMultipart(buf: Buffer, boundary: string): Params {
  const out: Params = {};
  const delim = Buffer.from(`--${boundary}`);
  let pos = buf.indexOf(delim);
  for (let i = 0; i < 10_000 && pos !== -1; i++) {
    const start = pos + delim.length;
    if (buf.subarray(start, start + 2).toString() === "--") break;
    const next = buf.indexOf(delim, start);
    if (next === -1) break;
    const part = buf.subarray(start + 2, next - 2); // skip CRLF after the delimiter and before the next
    const sep = part.indexOf("\r\n\r\n");
    if (sep === -1) break;
    const head = part.subarray(0, sep).toString();
    const data = Buffer.from(part.subarray(sep + 4));
    const name = /name="([^"]*)"|name=([^;\r\n]+)/i.exec(head);
    const key = name?.[1] ?? name?.[2]?.trim();
    if (key) {
      const fn = /filename="([^"]*)"|filename=([^\r\n]*)/i.exec(head);
      const type = /content-type:\s*([^\r\n;]+)/i.exec(head)?.[1]?.trim();
      if (fn) out[key] = { upload: true, name: (fn[1] ?? fn[2] ?? "").trim(), data, contentType: type };
      else out[key] = formValue(data.toString());
    }
    pos = next;
  }
  return out;
}

/** Parses a Bot API request body by content type; unknown types give no parameters. */
export function parseBody(buf: Buffer, contentType: string): Params {
  if (buf.length === 0) return {};
  const ct = contentType.toLowerCase();
  if (ct.startsWith("application/json")) {
    const v: unknown = JSON.parse(buf.toString());
    return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Params) : {};
  }
  if (ct.startsWith("application/x-www-form-urlencoded")) {
    const out: Params = {};
    for (const [k, v] of new URLSearchParams(buf.toString())) out[k] = formValue(v);
    return out;
  }
  if (ct.startsWith("multipart/form-data")) {
    const b = /boundary="?([^";]+)"?/i.exec(contentType)?.[1];
    if (!b) throw badRequest("multipart boundary missing");
    return parseMultipart(buf, b);
  }
  return {};
}

/** Tags Telegram accepts in `parse_mode: "HTML"`. */
const ALLOWED_TAGS = new Set([
  "b",
  "strong",
  "i",
  "em",
  "u",
  "ins",
  "s",
  "strike",
  "del",
  "span",
  "tg-spoiler",
  "a",
  "tg-emoji",
  "code",
  "pre",
  "blockquote",
]);

const NAMED: Record<string, string> = { lt: "<", gt: ">", amp: "&", quot: '"' };

function decodeEntity(ent: string): string {
  const body = ent.slice(1, -1);
  if (body.startsWith("#x") || body.startsWith("#X"))
    return String.fromCodePoint(Number.parseInt(body.slice(2), 16));
  if (body.startsWith("#")) return String.fromCodePoint(Number(body.slice(1)));
  const v = NAMED[body];
  if (v === undefined) throw badRequest(`can't parse entities: Unsupported entity "${ent}"`);
  return v;
}

/**
 * Checks Telegram HTML the way the Bot API does (known tags, balanced, known entities) and
 * returns the plain text a user would see. Throws the API's "can't parse entities" error.
 */
export function telegramHtmlToPlain(html: string): string {
  const stack: string[] = [];
  let out = "";
  const re = /<(\/?)([a-zA-Z][\w-]*)([^>]*)>|&#?[\w]+;|[<&]/g;
  let last = 0;
  for (let m = re.exec(html); m; m = re.exec(html)) {
    out += html.slice(last, m.index);
    last = m.index + m[0].length;
    const tok = m[0];
    if (m[2] !== undefined) {
      const tag = m[2].toLowerCase();
      if (!ALLOWED_TAGS.has(tag)) throw badRequest(`can't parse entities: Unsupported start tag "${tag}"`);
      if (m[1]) {
        if (stack.pop() !== tag) throw badRequest(`can't parse entities: Unmatched end tag "${tag}"`);
      } else if (!m[3]?.trim().endsWith("/")) stack.push(tag);
    } else if (tok === "&" || tok === "<") {
      throw badRequest(`can't parse entities: Unexpected "${tok}": escape it as an HTML entity`);
    } else {
      out += decodeEntity(tok);
    }
  }
  if (stack.length)
    throw badRequest(`can't parse entities: Can't find end tag corresponding to start tag "${stack.at(-1)}"`);
  return out + html.slice(last);
}

/** Guesses a mimetype from a file name, for uploads sent as application/octet-stream. */
export function mimeFromName(name: string): string {
  const ext = name.toLowerCase().split(".").pop() ?? "";
  const map: Record<string, string> = {
    png: "image/png",
    jpg: "image/jpeg",
    jpeg: "image/jpeg",
    gif: "image/gif",
    webp: "image/webp",
    mp4: "video/mp4",
    mp3: "audio/mpeg",
    ogg: "audio/ogg",
    oga: "audio/ogg",
    pdf: "application/pdf",
    txt: "text/plain",
  };
  return map[ext] ?? "application/octet-stream";
}

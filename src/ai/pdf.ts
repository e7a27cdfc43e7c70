import { Logger } from "../log/Logger";

const log = new Logger("PdfText");

/** Most pages read from one PDF. */
const MAX_PAGES = 50;

type Unpdf = typeof import("unpdf");
let unpdf: Promise<Unpdf | undefined> | undefined;

/** The PDF library, loaded on first use (it is large); undefined when it cannot load. */
function load(): Promise<Unpdf | undefined> {
  // require: the package's CommonJS build, like the rest of the bridge.
  unpdf ??= Promise.resolve()
    .then(() => require("unpdf") as Unpdf)
    .catch((err: unknown) => {
      log.warn("PDF text is unavailable (unpdf did not load)", { err: String(err) });
      return undefined;
    });
  return unpdf;
}

/** Whether the bytes are a PDF (`%PDF-` at the start). */
export function isPdf(data: Uint8Array): boolean {
  return data.length >= 5 && Buffer.from(data.subarray(0, 5)).toString("latin1") === "%PDF-";
}

/**
 * The text of a PDF's first pages (at most {@link MAX_PAGES}), cut to `maxChars`; undefined when
 * it is no PDF, cannot be read (broken, encrypted) or has no text (a scan). Never throws.
 */
export async function pdfText(
  data: Uint8Array,
  maxChars: number,
): Promise<{ text: string; cut: boolean } | undefined> {
  if (!isPdf(data)) return undefined;
  const lib = await load();
  if (!lib) return undefined;
  let doc: Awaited<ReturnType<Unpdf["getDocumentProxy"]>> | undefined;
  try {
    // A copy: the library takes over (detaches) the buffer it is given.
    doc = await lib.getDocumentProxy(new Uint8Array(data), { stopAtErrors: false, verbosity: 0 });
    const pages = Math.min(doc.numPages, MAX_PAGES);
    const parts: string[] = [];
    let length = 0;
    for (let n = 1; n <= pages && length <= maxChars; n++) {
      const page = await doc.getPage(n);
      const content = await page.getTextContent();
      const text = content.items
        .map((item) => ("str" in item ? `${item.str}${item.hasEOL ? "\n" : ""}` : ""))
        .join("")
        .trim();
      if (text) {
        parts.push(text);
        length += text.length + 2;
      }
    }
    let text = parts.join("\n\n").trim();
    if (!text) return undefined;
    let cut = pages < doc.numPages;
    if (text.length > maxChars) {
      let end = Math.max(0, maxChars);
      const code = text.charCodeAt(end - 1);
      if (code >= 0xd800 && code <= 0xdbff) end--;
      text = text.slice(0, end);
      cut = true;
    }
    return { text, cut };
  } catch (err) {
    log.info("PDF not read", { bytes: data.length, err: String(err) });
    return undefined;
  } finally {
    await doc?.cleanup().catch(() => undefined);
  }
}

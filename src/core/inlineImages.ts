/**
 * Images inside a message's text (a platform's custom emoji), as Matrix shows them: an `<img>`
 * with an mxc URI (`data-mx-emoticon`, as Element sends its own). Each image is uploaded once per
 * platform media key and remembered (kv `inline-image`), so a busy emoji costs one upload.
 */
import { escapeHtml } from "../format";
import type { Intent } from "../matrix/MatrixApi";
import type { Store } from "../store/Store";
import type { InlineImage, MediaRef, NetworkClient } from "./connector";
import { uploadMedia } from "./media";

export const INLINE_SRC = "clawbridge-inline:";
const KV = "inline-image";
/** Longest media key remembered (a CDN URL). */
const MAX_KEY = 500;

/** The mxc URI of a platform image, uploaded on first use; undefined when it cannot be had. */
export async function inlineMxc(
  store: Pick<Store, "kvGet" | "kvSet">,
  platform: string,
  intent: Intent,
  client: NetworkClient,
  ref: MediaRef,
): Promise<string | undefined> {
  if (typeof ref?.key !== "string" || ref.key.length > MAX_KEY) return undefined;
  const key = `${platform}\n${ref.key}`;
  const known = await store.kvGet(KV, key);
  if (known) return known;
  try {
    const mxc = await uploadMedia(intent, client, ref);
    await store.kvSet(KV, key, mxc);
    return mxc;
  } catch {
    return undefined;
  }
}

/**
 * `html` with each `<img src="clawbridge-inline:<id>" …>` pointing at its uploaded image, or
 * replaced by its alt text where there is none. Other markup is left as it is.
 */
export function fillInlineImages(html: string, mxcs: ReadonlyMap<string, string | undefined>): string {
  return html.replace(/<img\b[^>]*\bsrc="clawbridge-inline:([^"]*)"[^>]*>/g, (tag, id: string) => {
    const mxc = mxcs.get(id);
    if (mxc) return tag.replace(`${INLINE_SRC}${id}`, escapeHtml(mxc));
    const alt = /\balt="([^"]*)"/.exec(tag)?.[1] ?? "";
    return alt;
  });
}

/** Every inline image of a message uploaded (or found), by id. */
export async function resolveInlineImages(
  images: readonly InlineImage[],
  mxcOf: (ref: MediaRef) => Promise<string | undefined>,
): Promise<Map<string, string | undefined>> {
  const out = new Map<string, string | undefined>();
  // A connector's list, checked: an entry without an id or a media key is left out (its alt text stays).
  for (const img of Array.isArray(images) ? images.slice(0, 50) : []) {
    if (typeof img?.id !== "string" || typeof img.ref?.key !== "string" || out.has(img.id)) continue;
    out.set(img.id, await mxcOf(img.ref));
  }
  return out;
}

import { loadSharp, MAX_INPUT_PIXELS } from "../core/sharp";
import { Logger } from "../log/Logger";
import type { ChatImage } from "./providers/types";

const log = new Logger("AiDownscale");

/** Longest sides tried, largest first, until the JPEG fits. */
const SIDES = [2048, 1536, 1024, 768, 512];

/**
 * The image re-encoded as a JPEG of at most `maxBytes` (longest side at most 2048 px, EXIF
 * orientation applied, transparency on white, first frame of an animation); undefined when sharp
 * is missing, the bytes do not decode, or even 512 px does not fit.
 */
export async function downscale(data: Buffer, maxBytes: number): Promise<ChatImage | undefined> {
  const sharp = await loadSharp();
  if (!sharp) return undefined;
  try {
    for (const side of SIDES) {
      const out = await sharp(data, { limitInputPixels: MAX_INPUT_PIXELS, failOn: "error" })
        .rotate()
        .resize(side, side, { fit: "inside", withoutEnlargement: true })
        .flatten({ background: "#ffffff" })
        .jpeg({ quality: 80 })
        .toBuffer();
      if (out.length <= maxBytes) return { mime: "image/jpeg", data: out };
    }
  } catch (err) {
    log.info("image not downscaled", { err: String(err) });
  }
  return undefined;
}

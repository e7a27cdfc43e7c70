import { Logger } from "../log/Logger";
import type { OutboundAttachment } from "./connector";
import { loadSharp, MAX_INPUT_PIXELS } from "./sharp";

const log = new Logger("Downscale");

/** The shape an image must have besides its size in bytes (a platform's photo limits, the AI's). */
export interface ImageShape {
  /** Longest side, in pixels. */
  maxSide?: number;
  /** Width plus height, in pixels (Telegram photos: 10000). */
  maxSideSum?: number;
  /** Longer side over shorter side (Telegram photos: 20); a longer image is padded with white to it. */
  maxRatio?: number;
}

export interface ImageLimits extends ImageShape {
  /** Largest encoded size, in bytes. */
  maxBytes: number;
}

export interface DownscaledImage {
  mime: "image/jpeg";
  data: Buffer;
  width: number;
  height: number;
}

/** Below this longest side a downscaled image says too little: give up instead. */
const MIN_SIDE = 512;
/** Each try that does not fit shrinks the sides by this factor. */
const STEP = 0.75;

/**
 * The largest box of at most `scale` times the picture (`w`×`h`, padded to `maxRatio` when it is
 * longer) that keeps `shape`: whole pixels, at least 1×1. Pure.
 */
export function fitBox(w: number, h: number, shape: ImageShape, scale = 1): { w: number; h: number } {
  let cw = Math.max(1, w);
  let ch = Math.max(1, h);
  const ratio = shape.maxRatio !== undefined && shape.maxRatio >= 1 ? shape.maxRatio : undefined;
  if (ratio !== undefined) {
    if (cw / ch > ratio) ch = Math.ceil(cw / ratio);
    else if (ch / cw > ratio) cw = Math.ceil(ch / ratio);
  }
  let s = Math.min(1, scale);
  if (shape.maxSide !== undefined) s = Math.min(s, shape.maxSide / Math.max(cw, ch));
  if (shape.maxSideSum !== undefined) s = Math.min(s, shape.maxSideSum / (cw + ch));
  let bw = Math.max(1, Math.floor(cw * s));
  let bh = Math.max(1, Math.floor(ch * s));
  // Rounding down one side can push the ratio past the limit: the shorter side grows back, and
  // the longer one gives way when that breaks the sum.
  const settle = () => {
    if (ratio === undefined) return;
    if (bw / bh > ratio) bh = Math.ceil(bw / ratio);
    else if (bh / bw > ratio) bw = Math.ceil(bh / ratio);
  };
  settle();
  while (shape.maxSideSum !== undefined && bw + bh > shape.maxSideSum && Math.max(bw, bh) > 1) {
    if (bw >= bh) bw--;
    else bh--;
    settle();
  }
  return { w: bw, h: bh };
}

/** Whether a `w`×`h` picture of `bytes` keeps `limits` as it is. */
export function fitsLimits(w: number, h: number, bytes: number, limits: ImageLimits): boolean {
  const long = Math.max(w, h);
  const short = Math.max(1, Math.min(w, h));
  return (
    bytes <= limits.maxBytes &&
    (limits.maxSide === undefined || long <= limits.maxSide) &&
    (limits.maxSideSum === undefined || w + h <= limits.maxSideSum) &&
    (limits.maxRatio === undefined || long / short <= limits.maxRatio)
  );
}

/** Width and height as shown (EXIF orientations 5-8 turn the picture a quarter), and the frame count. */
async function measure(data: Buffer): Promise<{ w: number; h: number; pages: number } | undefined> {
  const sharp = await loadSharp();
  if (!sharp) return undefined;
  const meta = await sharp(data, { limitInputPixels: MAX_INPUT_PIXELS, pages: 1 }).metadata();
  if (!meta.width || !meta.height) return undefined;
  const turned = (meta.orientation ?? 1) >= 5;
  return {
    w: turned ? meta.height : meta.width,
    h: turned ? meta.width : meta.height,
    pages: meta.pages ?? 1,
  };
}

/**
 * The image re-encoded as a JPEG of at most `maxBytes` in `shape` (by default a longest side of
 * at most 2048 px), EXIF orientation applied, transparency on white, first frame of an
 * animation; tried at smaller sizes until it fits. Undefined when sharp is missing, the bytes do
 * not decode, or even a longest side of 512 px does not fit.
 */
export async function downscale(
  data: Buffer,
  maxBytes: number,
  shape: ImageShape = { maxSide: 2048 },
): Promise<DownscaledImage | undefined> {
  const sharp = await loadSharp();
  if (!sharp) return undefined;
  try {
    const size = await measure(data);
    if (!size) return undefined;
    const largest = fitBox(size.w, size.h, shape);
    const long = Math.max(largest.w, largest.h);
    // The largest box first, then smaller ones down to a longest side of MIN_SIDE.
    const scales = [1];
    for (let s = STEP; long * s > MIN_SIDE; s *= STEP) scales.push(s);
    if (long > MIN_SIDE) scales.push(MIN_SIDE / long);
    for (const scale of scales) {
      const box = fitBox(largest.w, largest.h, shape, scale);
      const out = await sharp(data, { limitInputPixels: MAX_INPUT_PIXELS, failOn: "error" })
        .rotate()
        .resize(box.w, box.h, { fit: "contain", background: "#ffffff" })
        .flatten({ background: "#ffffff" })
        .jpeg({ quality: 80 })
        .toBuffer();
      if (out.length <= maxBytes) return { mime: "image/jpeg", data: out, width: box.w, height: box.h };
    }
  } catch (err) {
    log.info("image not downscaled", { err: String(err) });
  }
  return undefined;
}

/**
 * An outbound image within a platform's photo `limits`: unchanged when it keeps them (or is an
 * animation, or cannot be measured), otherwise re-encoded as a smaller JPEG; unchanged too when
 * that does not work out, so the platform's own answer decides as before.
 */
export async function fitImage(a: OutboundAttachment, limits: ImageLimits): Promise<OutboundAttachment> {
  if (a.kind !== "image") return a;
  const bytes = a.media.data.length;
  let size: Awaited<ReturnType<typeof measure>>;
  try {
    size = await measure(a.media.data);
  } catch (err) {
    log.debug("outbound image not measured", { bytes, err: String(err) });
    return a;
  }
  if (!size || size.pages > 1 || fitsLimits(size.w, size.h, bytes, limits)) return a;
  const out = await downscale(a.media.data, limits.maxBytes, limits);
  if (!out) {
    log.info("outbound image over the platform's limits could not be downscaled", {
      w: size.w,
      h: size.h,
      bytes,
    });
    return a;
  }
  log.info("outbound image downscaled to the platform's limits", {
    from: `${size.w}x${size.h} ${bytes} B`,
    to: `${out.width}x${out.height} ${out.data.length} B`,
  });
  const name = `${a.media.name.replace(/\.[A-Za-z0-9]{1,5}$/, "") || "image"}.jpg`;
  return { ...a, media: { data: out.data, mimetype: out.mime, name }, width: out.width, height: out.height };
}

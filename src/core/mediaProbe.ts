import { Logger } from "../log/Logger";
import { loadSharp, MAX_INPUT_PIXELS } from "./sharp";

const log = new Logger("MediaProbe");

/** Images larger than this (either side) get a thumbnail of at most this size. */
export const THUMB_W = 800;
export const THUMB_H = 600;

const ascii = (data: Buffer, at: number, len: number) => data.subarray(at, at + len).toString("latin1");

/**
 * The media type from the first bytes, for the formats chats carry: images, audio and video
 * containers, PDF and ZIP; undefined when the bytes say nothing known.
 */
export function sniffMime(data: Buffer): string | undefined {
  if (data.length < 4) return undefined;
  if (data.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])))
    return "image/png";
  if (data[0] === 0xff && data[1] === 0xd8 && data[2] === 0xff) return "image/jpeg";
  if (/^GIF8[79]a$/.test(ascii(data, 0, 6))) return "image/gif";
  if (ascii(data, 0, 4) === "RIFF" && ascii(data, 8, 4) === "WEBP") return "image/webp";
  if (ascii(data, 0, 4) === "RIFF" && ascii(data, 8, 4) === "WAVE") return "audio/wav";
  if (ascii(data, 0, 4) === "OggS") return "audio/ogg";
  if (ascii(data, 0, 4) === "fLaC") return "audio/flac";
  if (
    ascii(data, 0, 3) === "ID3" ||
    (data[0] === 0xff && (data[1]! & 0xe0) === 0xe0 && (data[1]! & 0x06) !== 0)
  )
    return "audio/mpeg";
  if (ascii(data, 4, 4) === "ftyp") {
    const brand = ascii(data, 8, 4);
    if (brand === "M4A " || brand === "M4B ") return "audio/mp4";
    if (brand === "heic" || brand === "heix" || brand === "mif1") return "image/heic";
    if (brand === "qt  ") return "video/quicktime";
    return "video/mp4";
  }
  if (data.subarray(0, 4).equals(Buffer.from([0x1a, 0x45, 0xdf, 0xa3])))
    return data.includes(Buffer.from("webm"), 0) ? "video/webm" : "video/x-matroska";
  if (ascii(data, 0, 5) === "%PDF-") return "application/pdf";
  if (ascii(data, 0, 4) === "PK\x03\x04") return "application/zip";
  return undefined;
}

/** The type to show: the platform's, unless it is missing or generic and the bytes say better. */
export function effectiveMime(declared: string | undefined, data: Buffer): string {
  const clean = declared?.split(";")[0]?.trim().toLowerCase();
  const sniffed = sniffMime(data);
  if (!clean || clean === "application/octet-stream" || clean === "binary/octet-stream")
    return sniffed ?? "application/octet-stream";
  // A platform that calls a PNG "image/jpeg" still sent an image: the bytes name it exactly.
  if (sniffed && clean.startsWith("image/") && sniffed.startsWith("image/") && sniffed !== clean)
    return sniffed;
  return declared!;
}

export interface ImageFacts {
  w: number;
  h: number;
  /** A JPEG of at most {@link THUMB_W}×{@link THUMB_H}, for images larger than that. */
  thumbnail?: { data: Buffer; w: number; h: number };
}

/** An image's size and, when it is large, a thumbnail; undefined when it does not decode or sharp is missing. */
export async function imageFacts(data: Buffer): Promise<ImageFacts | undefined> {
  const sharp = await loadSharp();
  if (!sharp) return undefined;
  try {
    const meta = await sharp(data, { limitInputPixels: MAX_INPUT_PIXELS, pages: 1 }).metadata();
    if (!meta.width || !meta.height) return undefined;
    // EXIF orientations 5-8 turn the picture a quarter: clients lay it out turned.
    const turned = (meta.orientation ?? 1) >= 5;
    const w = turned ? meta.height : meta.width;
    const h = turned ? meta.width : meta.height;
    if (w <= THUMB_W && h <= THUMB_H) return { w, h };
    const { data: thumb, info } = await sharp(data, { limitInputPixels: MAX_INPUT_PIXELS, pages: 1 })
      .rotate()
      .resize({ width: THUMB_W, height: THUMB_H, fit: "inside", withoutEnlargement: true })
      .flatten({ background: "#ffffff" })
      .jpeg({ quality: 75 })
      .toBuffer({ resolveWithObject: true });
    return { w, h, thumbnail: { data: thumb, w: info.width, h: info.height } };
  } catch (err) {
    log.debug("image not measured", { bytes: data.length, err: String(err) });
    return undefined;
  }
}

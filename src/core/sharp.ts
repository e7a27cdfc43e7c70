import { Logger } from "../log/Logger";

const log = new Logger("Images");

export type Sharp = typeof import("sharp");

/** Refuse decompression bombs: images of more pixels than this are not decoded. */
export const MAX_INPUT_PIXELS = 50_000_000;

let loading: Promise<Sharp | undefined> | undefined;

/**
 * sharp (libvips, a dependency; its prebuilt binary comes from the npm registry), loaded on
 * first use. When it cannot load, image sizes, thumbnails and the AI's downscaling are skipped.
 */
export function loadSharp(): Promise<Sharp | undefined> {
  loading ??= import("sharp")
    .then((m) => ((m as { default?: Sharp }).default ?? (m as unknown as Sharp)) as Sharp)
    .catch((err: unknown) => {
      log.warn("sharp is not available: no image sizes, thumbnails or downscaling", { err: String(err) });
      return undefined;
    });
  return loading;
}

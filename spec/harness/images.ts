import sharp from "sharp";

/**
 * A 12000×300 PNG of noise, over 10 MiB: past every platform's photo limits at once (Telegram's
 * 10 MB, width+height 10000 and ratio 20; Discord's 10 MiB upload). Other sizes on request.
 */
export async function oversizedWideImage(width = 12_000, height = 300): Promise<Buffer> {
  const png = await sharp({
    create: {
      width,
      height,
      channels: 4,
      background: { r: 128, g: 128, b: 128, alpha: 0.5 },
      noise: { type: "gaussian", mean: 128, sigma: 45 },
    },
  })
    .png()
    .toBuffer();
  if (png.length <= 10 * 1024 * 1024) throw new Error(`the oversized image came out at ${png.length} bytes`);
  return png;
}
